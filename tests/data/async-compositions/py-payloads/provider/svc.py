from wit_world.exports import svc as s


class Token(s.Token):
    def __init__(self, v: int) -> None:
        self.v = v

    def value(self) -> int:
        return self.v
