"""Consumer (root): exports plain-valued async functions, calls the provider's async functions
with stream<u8> and future<T> crossing between the two components (componentize-py 0.25.1)."""

from componentize_py_async_support import spawn
from wit_world import byte_stream, exports, string_future
from wit_world.exports import app
from wit_world.imports import bytes as provider

try:  # on the path only in the quiet (--stub-wasi) build, where writing stdout would trap
    import asyncpy_quiet  # noqa: F401

    def log(*_args):
        pass
except ImportError:
    log = print


async def _write_chunks(writer, data, size):
    with writer:
        for i in range(0, len(data), size):
            await writer.write_all(data[i : i + size])


async def _read_all(reader):
    out = bytearray()
    with reader:
        while not reader.writer_dropped:
            out += await reader.read(16)
    return bytes(out)


class App(exports.App):
    async def run_checksum(self, data):
        writer, reader = byte_stream()
        spawn(_write_chunks(writer, data, 3))
        return await provider.checksum(reader)

    async def run_produce(self, n, seed):
        return await _read_all(await provider.produce(n, seed))

    async def run_later(self, x):
        fut = await provider.later(x)
        return await fut.read()

    async def run_tally(self, label, data, note):
        writer, reader = byte_stream()
        fwriter, freader = string_future(lambda: "default")
        spawn(_write_chunks(writer, data, 10))

        async def resolve():
            await fwriter.write(note)

        spawn(resolve())
        s = await provider.tally(label, reader, freader)
        log(f"consumer tally {label}: sum={s.sum}")
        return app.Report(s.count, s.sum, s.first, s.note)

    async def run_pipe(self, n, seed):
        return await provider.checksum(await provider.produce(n, seed))

    async def run_concurrent(self, xs):
        futs = [await provider.later(x) for x in xs]
        return [await f.read() for f in futs]

    async def run_head(self, n, seed, k):
        reader = await provider.produce(n, seed)
        out = bytearray()
        with reader:
            while len(out) < k and not reader.writer_dropped:
                out += await reader.read(k - len(out))
        return bytes(out)

    async def run_fail(self, code):
        return await provider.fail(code)
