import asyncio

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import store as imp


class Relay(exports.Relay):
    async def keys_of(self, n: int):
        b = imp.Bucket(f"relay{n}")
        for i in range(n):
            await b.put(imp.Item(f"r{i}", [], i))
        rx = await b.keys()
        return rx  # the provider's end, handed on (the bucket is dropped when collected)

    async def echo(self, data):
        return await imp.echo_bytes(data)

    async def squares(self, n: int) -> list[int]:
        return list(await asyncio.gather(*(imp.slow_square(i, i % 3) for i in range(n))))

    async def fail(self, msg: str) -> str:
        try:
            return await imp.fail(msg)
        except Err as e:
            raise Err("m:" + e.value) from None

    async def boom(self, n: int) -> int:
        return await imp.boom(n) + 1

    async def tagged(self, n: int) -> list[imp.Item]:
        b = await imp.open("t")
        for i in range(n):
            await b.put(imp.Item(f"t{i}", ["x"] * i, i * 7))
        r = await b.get("*")
        return list(r.value) if isinstance(r, imp.Lookup_Many) else []
