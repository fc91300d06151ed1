import msgspec
import pytest
import trio

from clara.actors import Actor, ActorRef
from clara.testing import ActorTestKit


class Greet(msgspec.Struct, frozen=True):
    name: str


class Greeted(msgspec.Struct, frozen=True):
    name: str


class Greeter(Actor):
    def __init__(self, audit: ActorRef) -> None:
        self.audit = audit

    async def on_receive(self, message: Greet) -> str:
        await self.audit.tell(Greeted(message.name))
        return f"hello {message.name}"


@pytest.mark.trio
async def test_greeter_replies_and_tells_the_audit(autojump_clock: trio.testing.MockClock) -> None:
    async with ActorTestKit() as kit:
        audit = await kit.probe()
        greeter = await kit.spawn(lambda: Greeter(audit.ref))
        assert await greeter.ask(Greet("Ada")) == "hello Ada"
        assert await audit.expect(Greeted) == Greeted("Ada")
        await audit.expect_no_message(within=60)  # a virtual minute, no real time
        assert trio.current_time() == 60
