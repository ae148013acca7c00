import asyncio

import componentize_py_async_support as cas
import wit_world
from svc import Token
from wit_world import exports
from wit_world.exports import svc as s


async def _send(tx, data: bytes) -> None:
    with tx:
        await tx.write_all(data)


def _bytes_stream(data: bytes):
    tx, rx = wit_world.byte_stream()
    cas.spawn(_send(tx, data))
    return rx


class Svc(exports.Svc):
    async def points(self, n: int):
        tx, rx = wit_world.svc_point_stream()

        async def fill() -> None:
            with tx:
                for i in range(n):
                    await tx.write_all([s.Point(i, -i * 3, f"p{i}" * (i % 3))])

        cas.spawn(fill())
        return rx

    async def words(self, n: int):
        tx, rx = wit_world.list_string_future(lambda: ["default"])

        async def fill() -> None:
            await asyncio.sleep(0)
            with tx:
                await tx.write([f"w{i}-é" * (i + 1) for i in range(n)])

        cas.spawn(fill())
        return rx

    async def tokens(self, n: int):
        tx, rx = wit_world.svc_token_stream()

        async def fill() -> None:
            with tx:
                for i in range(n):
                    await tx.write_all([Token(i * 10 + 1)])

        cas.spawn(fill())
        return rx

    async def sum_tokens(self, st) -> int:
        total = 0
        with st:
            while not st.writer_dropped:
                for t in await st.read(2):
                    total += t.value()
        return total

    async def wait_turns(self, turns: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return turns

    async def opt(self, v):
        return None if v is None else f"<{v}>"

    async def flags_echo(self, n: int):
        return (
            n % 256,
            n % 65536,
            -n * 1000000007,
            n / 3,
            n / 7,
            chr(0x1F600 + n % 10),
            n % 2 == 0,
        )

    async def nested(self, n: int):
        tx, rx = wit_world.stream_u8_stream()

        async def fill() -> None:
            with tx:
                for i in range(n):
                    await tx.write_all([_bytes_stream(bytes([65 + i]) * (i + 1))])

        cas.spawn(fill())
        return rx

    async def later_stream(self, n: int):
        tx, rx = wit_world.stream_u8_future(lambda: _bytes_stream(b"default"))

        async def fill() -> None:
            await asyncio.sleep(0)
            with tx:
                await tx.write(_bytes_stream(b"z" * n))

        cas.spawn(fill())
        return rx

    def plain(self, n: int) -> str:
        return f"plain-{n}"

    async def log(self, msg: str) -> int:
        print(f"provider log: {msg}")
        await asyncio.sleep(0)
        return len(msg)

    async def drain(self, s, k: int) -> int:
        got = b""
        with s:
            while len(got) < k and not s.writer_dropped:
                got += await s.read(k - len(got))
        return sum(got)
