#!/usr/bin/env python3
"""The Python binding follows the C header:

- every struct mutual.h defines has a ctypes class in mutual/_lib.py (its
  name in CamelCase: mutual_sync_stats is SyncStats) with the same fields
  in the same order, each at the C offset with the C size, and the same
  total size (the layout comes from abi_dump, compiled from mutual.h);
- every MUTUAL_EXTERN function has a prototype in _lib.PROTOTYPES with as
  many arguments, each (and the result) of the C type's kind: a pointer
  where C has a pointer or array, a callback where C has one, an integer
  of the C integer's size.

Usage: check_python_abi.py ABI_DUMP HEADER BINDING_DIR (with MUTUAL_LIBRARY
set, as the binding's own tests have it)."""
import ctypes
import re
import subprocess
import sys

dump, header, binding = sys.argv[1:4]
sys.path.insert(0, binding)
from mutual import _lib  # noqa: E402

problems = []

# ----------------------------------------------------------------- structs
layout = {}
for line in subprocess.run([dump], check=True, capture_output=True, text=True).stdout.splitlines():
    name, *nums = line.split()
    struct, _, field = name.partition(".")
    entry = layout.setdefault(struct, {"size": None, "fields": []})
    if field:
        entry["fields"].append((field, int(nums[0]), int(nums[1])))
    else:
        entry["size"] = int(nums[0])
if len(layout) < 8:
    problems.append(f"abi_dump printed only {len(layout)} structs")


def camel(c_name):
    return "".join(part.capitalize() for part in c_name[len("mutual_"):].split("_"))


for struct, entry in layout.items():
    cls = getattr(_lib, camel(struct), None)
    if cls is None or not issubclass(cls, ctypes.Structure):
        problems.append(f"{struct}: no ctypes class {camel(struct)} in _lib.py")
        continue
    py_fields = [f[0] for f in cls._fields_]
    c_fields = [f[0] for f in entry["fields"]]
    if py_fields != c_fields:
        problems.append(f"{struct}: fields {c_fields} in C, {py_fields} in {cls.__name__}")
        continue
    for field, offset, size in entry["fields"]:
        attr = getattr(cls, field)
        if (attr.offset, attr.size) != (offset, size):
            problems.append(f"{struct}.{field}: offset {offset} size {size} in C, "
                            f"offset {attr.offset} size {attr.size} in {cls.__name__}")
    if ctypes.sizeof(cls) != entry["size"]:
        problems.append(f"{struct}: {entry['size']} bytes in C, {ctypes.sizeof(cls)} in {cls.__name__}")

# --------------------------------------------------------------- functions
text = re.sub(r"/\*.*?\*/", "", open(header, encoding="utf-8").read(), flags=re.S)
callbacks = set(re.findall(r"typedef \w+ \(\*(mutual_\w+_cb)\)", text))
INTS = {"int": ctypes.c_int, "unsigned int": ctypes.c_uint, "size_t": ctypes.c_size_t,
        "uint64_t": ctypes.c_uint64, "uint32_t": ctypes.c_uint32}
POINTERS = (ctypes._Pointer, ctypes.c_void_p, ctypes.c_char_p, ctypes.Array, ctypes._CFuncPtr)


def kind_problem(c_type, py_type):
    """Why `py_type` does not fit the C type (None when it does)."""
    c_type = re.sub(r"\bconst\b", "", c_type).strip()
    if "*" in c_type or "[" in c_type:
        if py_type is None or not issubclass(py_type, POINTERS) or issubclass(py_type, ctypes._CFuncPtr):
            return f"a pointer ({c_type}) bound as {py_type}"
        return None
    base = c_type.split()[-1] if c_type not in INTS else c_type
    if c_type in callbacks:
        return None if py_type is not None and issubclass(py_type, ctypes._CFuncPtr) \
            else f"a callback ({c_type}) bound as {py_type}"
    if c_type == "void":
        return None if py_type is None else f"void bound as {py_type}"
    want = INTS.get(c_type)
    if want is None:
        return f"a C type the check does not know: {c_type}"
    if py_type is None or not issubclass(py_type, ctypes._SimpleCData) or \
            ctypes.sizeof(py_type) != ctypes.sizeof(want) or py_type in (ctypes.c_char_p, ctypes.c_void_p):
        return f"{base} bound as {py_type}"
    return None


def split_params(params):
    params = " ".join(params.split())
    if params == "void":
        return []
    return [p.strip() for p in params.split(",")]


def param_type(param):
    """`const char *kind` -> `const char *`; `uint8_t out[32]` -> `uint8_t []`."""
    m = re.match(r"(.*?)(\w+)\s*(\[[^\]]*\])?$", param)
    return (m.group(1) + ("[]" if m.group(3) else "")).strip()


declared = re.findall(r"MUTUAL_EXTERN\s+(.+?)\b(mutual_\w+)\s*\(([^)]*)\)\s*;", text, re.S)
if len(declared) < 50:
    problems.append(f"found only {len(declared)} public functions in {header}")
for ret, name, params in declared:
    proto = _lib.PROTOTYPES.get(name)
    if proto is None:
        problems.append(f"{name}: no prototype in _lib.PROTOTYPES")
        continue
    restype, argtypes = proto
    why = kind_problem(ret, restype)
    if why:
        problems.append(f"{name}: returns {why}")
    c_params = split_params(params)
    if len(c_params) != len(argtypes):
        problems.append(f"{name}: {len(c_params)} arguments in C, {len(argtypes)} in _lib.py")
        continue
    for i, (param, py_type) in enumerate(zip(c_params, argtypes)):
        why = kind_problem(param_type(param), py_type)
        if why:
            problems.append(f"{name}: argument {i + 1} is {why}")
for name in sorted(set(_lib.PROTOTYPES) - {d[1] for d in declared}):
    problems.append(f"{name}: in _lib.PROTOTYPES but not in mutual.h")

for p in problems:
    print(p, file=sys.stderr)
print(f"{len(layout)} structs, {len(declared)} functions; {len(problems)} problems")
sys.exit(1 if problems else 0)
