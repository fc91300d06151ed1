"""Runtime benchmarks: Clara's actor runtime measured beside bare trio, asyncio, pykka and
thespian. Run with ``python -m bench.run``; see bench/README.md."""
