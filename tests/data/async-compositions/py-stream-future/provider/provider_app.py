"""Provider: async functions over stream<u8> and future<T> (componentize-py 0.25.1)."""

from componentize_py_async_support import spawn
from wit_world import byte_stream, exports, u32_future
from wit_world.exports import bytes as b

try:  # on the path only in the quiet (--stub-wasi) build, where writing stdout would trap
    import asyncpy_quiet  # noqa: F401

    def log(*_args):
        pass
except ImportError:
    log = print


def _adler(a, s, data):
    for x in data:
        a = (a + x) % 65521
        s = (s + a) % 65521
    return a, s


class Bytes(exports.Bytes):
    async def checksum(self, data):
        a, s = 1, 0
        with data:
            while not data.writer_dropped:
                a, s = _adler(a, s, await data.read(5))
        return (s << 16) | a

    async def produce(self, n, seed):
        writer, reader = byte_stream()

        async def pump():
            with writer:
                sent = await writer.write_all(bytes((seed + 7 * i) & 0xFF for i in range(n)))
                if writer.reader_dropped:
                    log(f"provider produce: reader dropped after {sent} of {n} bytes")

        spawn(pump())
        return reader

    async def later(self, x):
        writer, reader = u32_future(lambda: 0)

        async def resolve():
            await writer.write((3 * x + 1) & 0xFFFFFFFF)

        spawn(resolve())
        return reader

    async def tally(self, label, data, done):
        count = total = 0
        first = None
        with data:
            while not data.writer_dropped:
                chunk = await data.read(64)
                if chunk and first is None:
                    first = chunk[0]
                count += len(chunk)
                total += sum(chunk)
        note = await done.read()
        log(f"provider tally {label}: {count} bytes, note={note!r}")
        return b.Summary(count, total, first, f"{label}/{note}")

    async def fail(self, code):
        writer, reader = u32_future(lambda: 0)

        async def resolve():
            await writer.write(code)

        spawn(resolve())
        got = await reader.read()
        if got:
            raise ValueError(f"provider fail: code {got}")
        return got
