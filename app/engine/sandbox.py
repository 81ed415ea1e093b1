"""A sandbox for the Python that diagrams carry: scripts, gateway conditions, timer expressions.

SpiffWorkflow runs diagram code with plain ``eval``/``exec``. Anyone allowed to deploy a
diagram must not be able to reach the server through it, so every expression and script
is compiled with RestrictedPython (no imports, no ``_``-prefixed names or attributes, no
``exec``/``open``/``type``), runs against an allow-listed set of builtins and helpers,
has arithmetic that could exhaust memory bounded, and is stopped after a time limit.
"""

from __future__ import annotations

import ast
import builtins
import functools
import operator
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.transformer import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

SCRIPT_FILENAME = "<bpmn-script>"
MAX_SEQUENCE = 100_000  # longest list/str a script may build by repetition or range()
MAX_INT_BITS = 4096
DEFAULT_TIME_LIMIT = 1.0  # seconds of wall time per expression or script


class ScriptSecurityError(Exception):
    """Diagram code tried something the sandbox forbids."""


class ScriptTimeout(Exception):
    """Diagram code ran longer than allowed."""


class _Transformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus guarded ``*``, ``**`` and ``<<`` (memory bombs)."""

    _GUARDED = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_"}

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = self._GUARDED.get(type(node.op))
        if guard is None:
            return node
        name = ast.copy_location(ast.Name(guard, ast.Load()), node)
        call = ast.Call(func=name, args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "Imports are not allowed in scripts.")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "Imports are not allowed in scripts.")
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        if type(node.op) in self._GUARDED:
            self.error(node, "Augmented assignment with *, ** or << is not allowed in scripts.")
        return super().visit_AugAssign(node)


def _check_size(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_SEQUENCE:
        raise ScriptSecurityError("result too large")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ScriptSecurityError("number too large")
    return value


def _guarded_mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        sequence = isinstance(seq, str | bytes | list | tuple) and isinstance(n, int)
        if sequence and len(seq) * max(n, 0) > MAX_SEQUENCE:
            raise ScriptSecurityError("result too large")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise ScriptSecurityError("number too large")
    return a * b


def _guarded_pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and a.bit_length() * b > MAX_INT_BITS:
        raise ScriptSecurityError("number too large")
    return _check_size(a**b)


def _guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and b > MAX_INT_BITS:
        raise ScriptSecurityError("number too large")
    return a << b


def _guarded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise ScriptSecurityError("range too large")
    return r


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "|=": operator.ior,
    "&=": operator.iand,
    "^=": operator.ixor,
    ">>=": operator.irshift,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    fn = _INPLACE.get(op)
    if fn is None:
        raise ScriptSecurityError(f"operator {op} is not allowed")
    return _check_size(fn(x, y))


_ALLOWED_BUILTINS = (
    "abs all any bool dict divmod enumerate filter float int isinstance len list map max min reversed "
    "round set sorted str sum tuple zip ValueError KeyError TypeError IndexError ZeroDivisionError "
    "Exception ArithmeticError LookupError"
).split()
_SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in _ALLOWED_BUILTINS}
_SAFE_BUILTINS.update({"True": True, "False": False, "None": None, "range": _guarded_range})

_GUARDS: dict[str, Any] = {
    "_getattr_": safer_getattr,
    "_getitem_": lambda obj, key: obj[key],
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_mul_": _guarded_mul,
    "_pow_": _guarded_pow,
    "_lshift_": _guarded_lshift,
}


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> Any:
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=SCRIPT_FILENAME, policy=_Transformer)
    if result.errors:
        raise ScriptSecurityError("; ".join(result.errors))
    return result.code


def check_source(source: str, mode: str = "eval") -> str | None:
    """Compile without running; return the error text, or None when the code is acceptable."""
    try:
        _compile(source, mode)
    except ScriptSecurityError as exc:
        return str(exc)
    except SyntaxError as exc:
        return f"syntax error: {exc.msg}"
    return None


def _run_with_deadline(fn: Callable[[], Any], limit: float) -> Any:
    """Run ``fn``, raising ScriptTimeout if diagram code is still running after ``limit`` s."""
    deadline = time.monotonic() + limit

    def local_trace(frame, event, arg):
        if time.monotonic() > deadline:
            raise ScriptTimeout(f"script ran longer than {limit:g} s")
        return local_trace

    def global_trace(frame, event, arg):
        if frame.f_code.co_filename == SCRIPT_FILENAME:
            frame.f_trace_opcodes = True  # `while True: pass` on one line emits no line events
            return local_trace(frame, event, arg)
        return None

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        return fn()
    finally:
        sys.settrace(previous)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that evaluates diagram code in the sandbox."""

    def __init__(self, helpers: Mapping[str, Any] | None = None, time_limit: float = DEFAULT_TIME_LIMIT):
        super().__init__(dict(helpers or {}))
        self.time_limit = time_limit

    def _globals(self, context: Mapping[str, Any], external: Mapping[str, Any] | None) -> dict:
        scope: dict[str, Any] = {"__builtins__": _SAFE_BUILTINS, **_GUARDS}
        scope.update(self.globals)
        scope.update(external or {})
        scope.update(context)
        return scope

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        code = _compile(expression, "eval")
        scope = self._globals(context, external_context)
        return _run_with_deadline(lambda: eval(code, scope), self.time_limit)  # noqa: S307

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        clashes = (set(self.globals) | set(external_context or {})) & set(context)
        if clashes:
            raise ValueError(
                "Task data overwrites a predefined function; rename: " + ", ".join(sorted(clashes))
            )
        code = _compile(script, "exec")
        scope = self._globals(context, external_context)
        before = set(scope)
        _run_with_deadline(lambda: exec(code, scope), self.time_limit)  # noqa: S102
        reserved = {"__builtins__", *_GUARDS, *self.globals, *(external_context or {})}
        for key in list(context):
            if key not in scope:
                del context[key]
        for key, value in scope.items():
            if key in reserved or key.startswith("_") or callable(value):
                continue
            if key in context or key not in before:
                context[key] = value
        return True

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        raise ScriptSecurityError("service tasks are not available to diagrams")


def make_script_engine(
    helpers: Mapping[str, Any] | None = None, time_limit: float = DEFAULT_TIME_LIMIT
) -> PythonScriptEngine:
    """A SpiffWorkflow script engine bound to the sandbox and the given helper functions."""
    return PythonScriptEngine(environment=SandboxEnvironment(helpers, time_limit))
