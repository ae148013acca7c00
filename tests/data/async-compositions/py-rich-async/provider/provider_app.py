import asyncio

import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err, Ok
from store import Bucket
from wit_world import exports


class Store(exports.Store):
    async def open(self, name: str) -> Bucket:
        await asyncio.sleep(0)
        return Bucket(name)

    async def total(self, b: Bucket) -> int:
        return sum(it.size for it in b.items.values())

    async def upload(self, data):
        tx, rx = wit_world.result_u32_string_future(lambda: Err("dropped"))

        async def consume() -> None:
            n = 0
            with data:
                while not data.writer_dropped:
                    chunk = await data.read(7)
                    n += sum(chunk)
            with tx:
                await tx.write(Ok(n) if n % 2 == 0 else Err(f"odd {n}"))

        cas.spawn(consume())
        return rx

    async def echo_bytes(self, data):
        tx, rx = wit_world.byte_stream()

        async def pump() -> None:
            with data, tx:
                while not data.writer_dropped:
                    chunk = await data.read(5)
                    if chunk:
                        await tx.write_all(bytes(b ^ 0x20 for b in chunk))

        cas.spawn(pump())
        return rx

    async def slow_square(self, n: int, turns: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return n * n

    async def fail(self, msg: str) -> str:
        if msg.startswith("ok"):
            return msg.upper()
        raise Err(msg[::-1])

    async def boom(self, n: int) -> int:
        if n > 2:
            raise RuntimeError("boom")
        return n
