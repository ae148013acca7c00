import asyncio

import componentize_py_async_support as cas
import wit_world
from wit_world import exports
from wit_world.imports import svc


async def _all(rx) -> bytes:
    out = b""
    with rx:
        while not rx.writer_dropped:
            out += await rx.read(4)
    return out


class Api(exports.Api):
    async def scenario(self, which: int, n: int) -> str:
        if which == 0:  # a stream of records
            rx = await svc.points(n)
            got = []
            with rx:
                while not rx.writer_dropped:
                    got += [(p.x, p.y, p.label) for p in await rx.read(2)]
            return repr(got)
        if which == 1:  # a future of a list of strings
            f = await svc.words(n)
            with f:
                return repr(await f.read())
        if which == 2:  # a stream of own handles, provider -> consumer
            rx = await svc.tokens(n)
            vals = []
            with rx:
                while not rx.writer_dropped:
                    for t in await rx.read(3):
                        vals.append(t.value())
            return repr(vals)
        if which == 3:  # a stream of own handles, consumer -> provider
            tx, rx = wit_world.svc_token_stream()

            async def fill() -> None:
                with tx:
                    for i in range(n):
                        await tx.write_all([svc.Token(i + 100)])

            cas.spawn(fill())
            return repr(await svc.sum_tokens(rx))
        if which == 4:  # cancellation of a call in flight
            t = asyncio.ensure_future(svc.wait_turns(n + 5))
            await asyncio.sleep(0)
            t.cancel()
            try:
                r = await t
                return f"done {r}"
            except asyncio.CancelledError:
                return "cancelled"
        if which == 5:  # options, tuples of every scalar
            return repr((await svc.opt(n if n % 2 else None), await svc.flags_echo(n)))
        if which == 6:  # many concurrent calls of different kinds
            rs = await asyncio.gather(
                svc.wait_turns(n), svc.opt(n), svc.flags_echo(n + 1), svc.wait_turns(1)
            )
            return repr(rs)
        if which == 7:  # a stream of streams
            outer = await svc.nested(n)
            got = []
            with outer:
                while not outer.writer_dropped:
                    for inner in await outer.read(1):
                        got.append(await _all(inner))
            return repr(got)
        if which == 8:  # a future of a stream
            f = await svc.later_stream(n)
            with f:
                inner = await f.read()
            return repr(await _all(inner))
        if which == 9:  # prints in both components, interleaved with async calls
            print(f"consumer before {n}")
            r = await svc.log(f"hello {n}")
            print(f"consumer after {r}")
            return str(r)
        if which == 10:  # the reader drops its end after 4 bytes; the writer sees it
            tx, rx = wit_world.byte_stream()
            written = []

            async def fill() -> None:
                with tx:
                    for i in range(n):
                        written.append(await tx.write(bytes([i]) * 3))

            cas.spawn(fill())
            s = await svc.drain(rx, 4)
            return f"{s} {written}"
        if which == 11:  # a sync call into the provider from async code
            return svc.plain(n)
        return "?"

    def quick(self, n: int) -> int:
        return n * 2 + 1

    def sync_call(self, n: int) -> str:
        return svc.plain(n) + "!"
