import asyncio

import componentize_py_async_support as cas
import wit_world
from componentize_py_types import Err
from wit_world.exports import store as s


class Bucket(s.Bucket):
    def __init__(self, name: str) -> None:
        self._name = name
        self.items: dict[str, s.Item] = {}

    async def put(self, it: s.Item) -> int:
        await asyncio.sleep(0)
        if not it.key:
            raise Err("empty key")
        self.items[it.key] = it
        return len(self.items)

    async def get(self, key: str) -> s.Lookup:
        if key == "*":
            return s.Lookup_Many(list(self.items.values()))
        it = self.items.get(key)
        return s.Lookup_Found(it) if it is not None else s.Lookup_Missing()

    async def keys(self):
        tx, rx = wit_world.string_stream()
        names = sorted(self.items)

        async def fill() -> None:
            with tx:
                for k in names:
                    await tx.write_all([k])
                    await asyncio.sleep(0)

        cas.spawn(fill())
        return rx

    def name(self) -> str:
        return self._name
