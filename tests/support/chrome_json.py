"""The strict loader of the Chrome JSON checkers (chrome_convert.py,
chrome_tasks.py): the file must start as bbx writes it, be UTF-8, and be
strict JSON (no NaN or Infinity; numbers kept exact). A failure prints
"ERROR <what>" and exits 1, as the C++ tests expect of every checker.
"""
import decimal, io, json, sys

out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")


def fail(msg):
    out.write("ERROR %s\n" % msg)
    out.flush()
    sys.exit(1)


def load(path):
    raw = open(path, "rb").read()
    if not raw.startswith(b'{"traceEvents":'):
        fail("does not start with {\"traceEvents\":")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("not UTF-8: %s" % e)

    def constant(c):
        raise ValueError("not JSON: " + c)

    try:
        return json.loads(text, parse_constant=constant, parse_float=decimal.Decimal)
    except ValueError as e:
        fail("JSON: %s" % e)
