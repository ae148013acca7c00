import asyncio

import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import relay, store


async def _bytes(rx) -> bytes:
    out = b""
    with rx:
        while not rx.writer_dropped:
            out += await rx.read(3)
    return out


async def _send(tx, data: bytes) -> None:
    with tx:
        for i in range(0, len(data), 4):
            await tx.write_all(data[i : i + 4])


class Api(exports.Api):
    async def scenario(self, which: int, n: int) -> str:
        if which == 0:  # resources with async methods, records, variants, borrows
            with await store.open(f"b{n}") as b:
                log = [b.name()]
                for i in range(n):
                    log.append(
                        await b.put(store.Item(f"k{i}", [f"t{j}" for j in range(i)], i * 10))
                    )
                try:
                    await b.put(store.Item("", [], 0))
                except Err as e:
                    log.append("err:" + e.value)
                log.append(repr(await b.get("k1")))
                log.append(repr(await b.get("nope")))
                log.append(len((await b.get("*")).value) if n else 0)
                log.append(await store.total(b))
                return repr(log)
        if which == 1:  # a stream of strings from the provider, handed on by the middle
            with await store.open("s") as b:
                for i in range(n):
                    await b.put(store.Item(f"key-{n - i}", [], i))
                keys = []
                rx = await b.keys()
                with rx:
                    while not rx.writer_dropped:
                        keys += await rx.read(2)
                return ",".join(keys)
        if which == 2:  # byte streams both ways, a future of a result
            tx, rx = wit_world.byte_stream()
            data = bytes(range(65, 65 + n))
            cas.spawn(_send(tx, data))
            echoed = await _bytes(await store.echo_bytes(rx))
            tx2, rx2 = wit_world.byte_stream()
            cas.spawn(_send(tx2, data))
            fut = await store.upload(rx2)
            with fut:
                r = await fut.read()
            return f"{echoed!r} {r!r}"
        if which == 3:  # concurrent calls
            vals = await asyncio.gather(*(store.slow_square(i, n - i) for i in range(n)))
            return repr(vals)
        if which == 4:  # errors through two boundaries
            out = []
            for m in ["ok-a", "bad", "ok", "xyz"][: n + 1]:
                try:
                    out.append(await store.fail(m))
                except Err as e:
                    out.append("E" + e.value)
            return repr(out)
        if which == 5:  # a trap in the provider, through the middle
            return repr(await relay.boom(n))
        if which == 6:  # an end made by the provider, handed on by the middle
            keys = []
            rx = await relay.keys_of(n)
            with rx:
                while not rx.writer_dropped:
                    keys += await rx.read(3)
            return ",".join(keys)
        if which == 7:  # a byte stream through two boundaries both ways, beside direct calls
            tx, rx = wit_world.byte_stream()
            data = bytes(range(97, 97 + n))
            cas.spawn(_send(tx, data))
            a, b = await asyncio.gather(_bytes(await relay.echo(rx)), store.slow_square(n, 2))
            return f"{a!r} {b}"
        if which == 8:  # lists of records, errors, concurrency through the middle
            sq, items = await asyncio.gather(relay.squares(n), relay.tagged(n))
            try:
                f = await relay.fail("bad" if n % 2 else "ok-" + str(n))
            except Err as e:
                f = "E" + e.value
            return repr((sq, [(i.key, i.tags, i.size) for i in items], f))
        return "?"
