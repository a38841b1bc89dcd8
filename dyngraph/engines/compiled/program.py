"""Programs for the compiled interpreter: buffers registered once, operations appended by the
node kinds.

A kind emits its rule through an :class:`Emitter` (``emit_forward`` / ``emit_backward`` on
the kind); it sees only :class:`Ref` handles and the operations below, never the buffer
layout. Widths are element counts of one row; ``guard`` is the delay d of an adjoint sent
to time t - d (skipped below tmin, for truncated BPTT). Rows a program writes start at
zero (the engines allocate every buffer zeroed and write each row once per run), so no rule
needs to clear a row before adding into it; an own buffer whose rows the program sets
before reading them is not zeroed at all (:meth:`Emitter.alloc`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List

import numpy as np

from .generate import CODES
from .spares import SPARES as _SPARES, give as _give_spare, take as _take_spare  # noqa: F401
from . import specialise, workspace
from .vm import N_FIELDS, OPERAND0, OPS

__all__ = ["Ref", "Emitter", "Template", "NotCompilable", "BY_COLUMNS"]

#: Products over at most this many columns of a weight matrix (a tap of one to four
#: inputs) run as axpys over its transpose (:meth:`Emitter.matvec`): measured at S = 10,
#: 1.3-2x faster up to 4 columns, slower at 10.
BY_COLUMNS = 4


class NotCompilable(Exception):
    """A kind or transfer without a compiled form: the engine steps it with numpy."""


@dataclass(frozen=True)
class Ref:
    """Rows of a registered buffer: element (q, i) of time t is
    ``buf[((t + off) * Q + q) * stride + col + i]`` (a parameter: row i of the matrix)."""

    buf: int
    off: int
    col: int
    stride: int

    def cols(self, c: int) -> "Ref":
        """The same rows from column ``col + c`` on."""
        return Ref(self.buf, self.off, self.col + c, self.stride)

    def shift(self, rows: int) -> "Ref":
        """The rows ``rows`` steps later (negative: earlier)."""
        return Ref(self.buf, self.off + rows, self.col, self.stride)


_NONE = Ref(0, 0, 0, 0)

#: operations that set X's row (all Q sequences, the given width) without reading it
_ASSIGNS = frozenset(("zero", "copy", "mul3", "transfer", "deriv"))
#: ... and those that do with code 1 (X = V + ..., see :meth:`Emitter.matvec`)
_ASSIGNS_FROM_V = frozenset(("add", "addmul", "matvec", "matvec_taps", "matvec_t_taps"))


@dataclass(frozen=True)
class Template:
    """A program with its buffers' layout, to be run again on new arrays of the same
    shapes (see :meth:`Emitter.template`): per buffer its name (what the caller calls it;
    None for one allocated by the program), shape and whether the program writes it."""

    names: tuple
    shapes: tuple
    writes: tuple
    program: np.ndarray
    #: anything the caller keeps beside it (the forward caches' Refs)
    extra: object = None
    #: the workspace layout (the start of every buffer, and the total), fixed by the shapes
    base: tuple = ()
    #: what runs it (:class:`.specialise.Runner`)
    runner: object = None
    #: the program's own buffers that need no zeroing (see :meth:`Emitter.alloc`)
    clean: frozenset = frozenset()

    #: the copies and zeroing of every run, fixed by the above (:meth:`Emitter.moves`)
    moves: tuple = None

    @property
    def n_named(self) -> int:
        kept = self.__dict__.get("_n_named")
        if kept is None:
            kept = sum(n is not None for n in self.names)
            object.__setattr__(self, "_n_named", kept)
        return kept


class Emitter:
    """Collects buffers and operations for one program over T steps of Q sequences.

    ``names`` (optional) maps id(array) -> a name for every array the caller may hand to
    the kinds; with it, :meth:`template` records the program so that the caller can run it
    again on the next call's arrays without emitting (:meth:`replay`).
    """

    def __init__(self, T: int, Q: int, names=None, by_columns=True):
        self.T, self.Q = T, Q
        # Products over a few columns of a weight matrix run over its transpose (see
        # :meth:`matvec`); off when the program changes the parameters it runs on (online
        # RTRL's update), which a copy would not follow.
        self._by_columns = by_columns
        # Own buffers filled, at every layout, from parameters: buffer -> (how, the source
        # buffers), how being "T" (the transpose of one), "stack" (their rows one after
        # the other) or "stack.T"; and (how, sources) -> buffer, to make each one once.
        self._derived = {}
        self._derived_of = {}
        # Registered buffers: the array (None for one allocated here), its shape, and
        # whether the program writes it (then it is copied back after the run).
        self._arrays: List[np.ndarray] = []
        self._shapes: List[tuple] = []
        self._writes: List[bool] = []
        self._names: List = []
        self._known = names
        self._index = {}
        self._rows: List[List[int]] = []
        self._sealed = 0            # rows before it are fixed (a caller took a mark)
        self._ws = None
        self._base = None
        self._prog = None
        self._layout = ()
        self._runner = None
        # Own buffers whose every row the program assigns before reading it (no zeroing),
        # and the own buffers any operation touched so far.
        self._clean = set()
        self._seen = set()
        self._covered = {}          # own buffer -> columns assigned so far (None: done)
        self._used = set()          # buffers some operation reads or writes
        self._optional = set()      # arrays copied in only when some operation uses them
        self._moves = None

    @classmethod
    def replay(cls, T: int, Q: int, template: Template, groups) -> "Emitter":
        """An emitter holding ``template``'s program over the arrays of ``groups`` (a
        template name is a pair (group, key): the array ``groups[group][key]``); :meth:`run`
        runs it. None when an array is missing or its shape differs from the template's
        (the caller then emits afresh)."""
        arrays = []
        for name, shape in zip(template.names, template.shapes):
            if name is None:
                arrays.append(None)
                continue
            a = groups[name[0]].get(name[1])
            if getattr(a, "shape", None) != shape:
                return None         # missing, or not an array of that shape
            arrays.append(a)
        named = template.n_named
        if len({id(a) for a in arrays}) != named + (named < len(arrays)):  # (+ None's)
            return None             # two names, one array now: the layout would differ
        # Only what running needs (this is per call: at Q = 1 the Python counts).
        em = cls.__new__(cls)
        em.T, em.Q, em._ws, em._base = T, Q, None, None
        em._arrays, em._shapes, em._writes = arrays, template.shapes, template.writes
        em._prog, em._layout, em._runner = template.program, template.base, template.runner
        em._clean, em._moves = template.clean, template.moves
        return em

    def template(self, extra=None):
        """This program as a :class:`Template` (after :meth:`run`), or None when some
        buffer was not named by the caller."""
        if self._known is None or any(n is False for n in self._names):
            return None
        return Template(tuple(self._names), tuple(self._shapes), tuple(self._writes),
                        self._prog, extra, self._layout, self._runner,
                        frozenset(self._clean), self._moves)

    # -- buffers --------------------------------------------------------------------
    def rows(self, array: np.ndarray, off: int = 0, writes: bool = True) -> Ref:
        """A (R, Q, w) array as rows; row t + off is time t. The program may write it
        (unless ``writes`` is False): the results are copied back into it after the run."""
        if array.dtype != np.float64 or array.ndim != 3 or not array.flags.c_contiguous:
            raise ValueError("row buffers of a compiled program are C-contiguous "
                             "(rows, Q, width) float64 arrays")
        return Ref(self._register(array, array.shape, writes), off, 0, array.shape[-1])

    def const(self, array: np.ndarray) -> Ref:
        """A (T, Q, w) array, read only; copied into the workspace only when an operation
        reads it (a forward cache that a derivative rule does not need)."""
        array = np.asarray(array, dtype=np.float64)
        b = self._register(array, array.shape, False)
        self._optional.add(b)
        return Ref(b, 0, 0, array.shape[-1])

    def param_row(self, value: np.ndarray) -> Ref:
        """A vector parameter (w,) as a row operand that is the same row at every step and
        sequence (stride 0): ``copy(X, param_row(b), w)`` sets X's rows to b."""
        r = self.param(value)
        return Ref(r.buf, 0, r.col, 0)

    def param(self, value: np.ndarray) -> Ref:
        """A parameter block (matrix (S, m), vector or μ), read only."""
        value = np.asarray(value, dtype=np.float64)
        stride = value.shape[-1] if value.ndim == 2 else 1
        return Ref(self._register(value, value.shape, False), 0, 0, stride)

    def alloc(self, width: int, rows=None) -> Ref:
        """A fresh (T, Q, width) buffer (``rows`` instead of T rows when given), zero;
        :meth:`array` gives it after the run.

        When the program's first operation on it assigns the whole row of step t (a copy,
        a product, a transfer; not an add into it) and no operation reads or writes another
        step's row, it is not zeroed: every row the run reaches holds what it assigned."""
        self._arrays.append(None)
        self._shapes.append((self.T if rows is None else rows, self.Q, width))
        self._writes.append(False)
        self._names.append(None)
        return Ref(len(self._arrays) - 1, 0, 0, width)

    def array(self, ref: Ref) -> np.ndarray:
        """The numpy array behind a reference (after :meth:`run`, with its results)."""
        a = self._arrays[ref.buf]
        if a is None:
            lo = self._base[ref.buf]
            shape = self._shapes[ref.buf]
            a = self._ws[lo:lo + math.prod(shape)].reshape(shape)
        return a

    def _register(self, array, shape, writes):
        key = id(array)
        if key not in self._index:
            self._index[key] = len(self._arrays)
            self._arrays.append(array)
            self._shapes.append(shape)
            self._writes.append(writes)
            self._names.append(self._known.get(key, False) if self._known is not None
                               else False)
        else:
            self._writes[self._index[key]] |= writes
        return self._index[key]

    # -- operations -----------------------------------------------------------------
    def _op(self, name, width, operands, guard=0, inner=0, code=0):
        row = [0] * N_FIELDS
        row[0], row[1], row[2], row[3], row[4] = OPS[name], width, guard, inner, code
        for k, r in enumerate(operands):
            r = r or _NONE
            row[OPERAND0 + 4 * k:OPERAND0 + 4 * k + 4] = [r.buf, r.off, r.col, r.stride]
            self._used.add(r.buf)
            if r is not _NONE and self._arrays[r.buf] is None:
                assigns = name in _ASSIGNS or code == 1 and name in _ASSIGNS_FROM_V
                self._track(r, k == 0 and assigns and guard == 0, width)
        self._rows.append(row)

    def _track(self, r, assigns, width):
        """Whether an own buffer stays clean (see :meth:`alloc`) after this operand: its
        first operations assign its row's columns, side by side until they cover it (the
        gates of a fused LSTM, each its slice), before any operation reads it; and no
        operation reaches another step's row."""
        b = r.buf
        if r.off != 0:
            self._clean.discard(b)
            self._covered[b] = None
        elif b not in self._seen or self._covered.get(b) is not None:
            self._seen.add(b)
            covered = self._covered.get(b, 0)
            if assigns and r.col == covered:
                covered += width
                self._covered[b] = covered
                if covered == r.stride:
                    self._clean.add(b)
                    self._covered[b] = None
            else:
                self._covered[b] = None     # read (or added to) before it was covered

    def zero(self, X, w):
        self._op("zero", w, (X,))

    def copy(self, X, Y, w):
        self._op("copy", w, (X, Y))

    def add(self, X, Y, w, guard=0):
        """X += Y; X = V + Y in one operation (code 1) when the operation before was
        ``copy(X, V, w)`` (a sum of two identity links: an LSTM's cell)."""
        first = self._take_copy(X, w, guard, Y)
        self._op("add", w, (X, Y, None, first), guard, code=int(first is not None))

    def mul(self, X, Y, w):
        self._op("mul", w, (X, Y))

    def mul3(self, X, Y, Z, w):
        """X = Y * Z."""
        self._op("mul3", w, (X, Y, Z))

    def addmul(self, X, Y, Z, w, guard=0):
        """X += Y * Z; X = V + Y * Z (code 1) when the operation before was ``copy(X, V,
        w)``."""
        first = self._take_copy(X, w, guard, Y, Z)
        self._op("addmul", w, (X, Y, Z, first), guard, code=int(first is not None))

    def vadd(self, X, V, w):
        self._op("vadd", w, (X, None, V))

    def vmul(self, X, V, w):
        self._op("vmul", w, (X, None, V))

    def matvec(self, X, W, Y, S, n, guard=0):
        """X[q, :S] += W[:S, col:col+n] @ Y[q, :n] (X = V + ... when the operation before
        was ``copy(X, V, S)``).

        A product that continues the previous one — the next tap of the same link: same X,
        W's next n columns, Y's rows a fixed step further — joins it in one ``matvec_taps``
        operation (same sums in the same order). Over n ≤ :data:`BY_COLUMNS` columns the
        product runs as axpys over the rows of Wᵀ (``matvec_t_taps`` on a transposed
        copy): a dot product of one to four terms per output does not vectorise, an axpy
        over the S outputs does (2x at n = 1, bench/README.md)."""
        Wt = self._columns(W, n)
        if Wt is not None:
            if self._join_tap(X, Wt, Y, S, n, guard, transposed=True):
                return
            # one tap of the taps form (its V slot holds K and the step: V can only be a
            # parameter row, whose column is all it reads)
            first = self._take_copy(X, S, guard, Y, moving=False)
            self._op("matvec_t_taps", S, (X, Y, Wt), guard, inner=n,
                     code=int(first is not None))
            v = (first.buf, 1, first.col, 0) if first is not None else (0, 1, 0, 0)
            self._rows[-1][OPERAND0 + 12:OPERAND0 + 16] = v
            return
        if self._join_tap(X, W, Y, S, n, guard):
            return
        # X = V + W y in one operation when X was just set to V (the layer's bias row, or
        # its hoisted part H): one operation less per layer and step, whose dispatch costs
        # as much as the copy.
        first = self._take_copy(X, S, guard, Y)
        self._op("matvec", S, (X, Y, W, first), guard, inner=n, code=int(first is not None))

    def _columns(self, W, n):
        """The Ref of W[:, col:col+n]ᵀ in a transposed copy of the parameter, when the
        product over those n columns runs better over it (else None)."""
        if not self._by_columns or n > BY_COLUMNS or len(self._shapes[W.buf]) != 2:
            return None
        if self._arrays[W.buf] is not None:
            how, sources = "T", (W.buf,)
        elif self._derived.get(W.buf, ("",))[0] == "stack":
            how, sources = "stack.T", self._derived[W.buf][1]
        else:
            return None
        b = self._derive(how, sources, self._shapes[W.buf][::-1])
        rows = self._shapes[b][1]
        return Ref(b, 0, W.col * rows, rows)

    def _derive(self, how, sources, shape):
        """The own buffer ``how`` makes of the parameter buffers ``sources`` (made once)."""
        b = self._derived_of.get((how, sources))
        if b is None:
            b = len(self._arrays)
            self._arrays.append(None)
            self._shapes.append(tuple(shape))
            self._writes.append(False)
            self._names.append(None)
            self._derived[b], self._derived_of[(how, sources)] = (how, sources), b
        return b

    def stacked(self, values) -> Ref:
        """Parameters of equal columns (each (S_i, m), or vectors (S_i,)) as one parameter
        of their rows one after the other, (Σ S_i, m), filled from them at every layout: the
        weights of layers that share one product (see the layer kind's ``emit_fused``)."""
        refs = [self.param(v) for v in values]
        shapes = [self._shapes[r.buf] for r in refs]
        rows = sum(sh[0] for sh in shapes)
        b = self._derive("stack", tuple(r.buf for r in refs), (rows,) + tuple(shapes[0][1:]))
        return Ref(b, 0, 0, shapes[0][1] if len(shapes[0]) == 2 else 1)

    def stacked_row(self, values) -> Ref:
        """Vector parameters one after the other as a row operand, the same row at every
        step and sequence (as :meth:`param_row`)."""
        r = self.stacked(values)
        return Ref(r.buf, 0, r.col, 0)

    def _take_copy(self, X, w, guard, *reads, moving=True):
        """The source V of the previous operation, dropped, when it is ``copy(X, V, w)`` and
        the operation being added (guard 0, reading ``reads``, none of them X's buffer) can
        start from V instead (code 1); None otherwise (nothing changes). ``moving`` False:
        only a parameter row V (the same row at every step)."""
        if guard or len(self._rows) <= self._sealed or any(
                Y.buf == X.buf and Y.off == X.off for Y in reads):
            return None
        r, o = self._rows[-1], OPERAND0
        if r[0] != OPS["copy"] or r[1] != w or r[o:o + 4] != [X.buf, X.off, X.col, X.stride]:
            return None
        if not moving and (r[o + 5] or r[o + 7]):
            return None
        self._rows.pop()
        return Ref(*r[o + 4:o + 8])

    def _join_tap(self, X, W, Y, S, n, guard, transposed=False):
        """Join ``matvec(X, W, Y, S, n)`` (W: the Ref of its operand Z, W's transpose when
        ``transposed``) to the product before it, when that is the previous tap."""
        if len(self._rows) <= self._sealed:
            return False
        r = self._rows[-1]
        o = OPERAND0
        taps = OPS["matvec_t_taps"] if transposed else OPS["matvec_taps"]
        one = taps if transposed else OPS["matvec"]
        if (r[0] not in (one, taps) or r[1:4] != [S, guard, n]
                or r[o:o + 4] != [X.buf, X.off, X.col, X.stride] or Y.buf == X.buf
                or [r[o + 4], r[o + 6], r[o + 7]] != [Y.buf, Y.col, Y.stride]
                or [r[o + 8], r[o + 11]] != [W.buf, W.stride]):
            return False
        K = r[o + 13] if r[0] == taps else 1    # (a transposed row: K ≥ 1)
        step = r[o + 15] if K > 1 else Y.off - r[o + 5]
        # the next tap's block: n columns of W further, or n rows of Wᵀ
        block = n * W.stride if transposed else n
        if W.col != r[o + 10] + K * block or Y.off != r[o + 5] + K * step or step == 0:
            return False
        if r[0] == OPS["matvec"] and r[4] == 1 and (r[o + 13] or r[o + 15]):
            # It starts from a row that moves with t, and the taps need V's slot: the copy
            # comes back as its own operation (a parameter row stays: the taps read V's
            # column only).
            copy = [0] * N_FIELDS
            copy[0], copy[1] = OPS["copy"], S
            copy[o:o + 8] = r[o:o + 4] + r[o + 12:o + 16]
            self._rows.insert(len(self._rows) - 1, copy)
            r[4], r[o + 12:o + 16] = 0, [0, 0, 0, 0]
        r[0], r[o + 13], r[o + 15] = taps, K + 1, step
        return True

    def matvec_t(self, X, W, Y, S, n, guard=0):
        """X[q, :n] += W[:S, col:col+n]ᵀ @ Y[q, :S]; for n ≤ :data:`BY_COLUMNS` as dot
        products over the rows of Wᵀ (see :meth:`matvec`)."""
        Wt = self._columns(W, n)
        if Wt is not None:
            self._op("matvec", n, (X, Y, Wt), guard, inner=S)
        else:
            self._op("matvec_t", n, (X, Y, W), guard, inner=S)

    def diag(self, X, W, Y, S, guard=0):
        """X[q, i] += W[i, col] Y[q, i]."""
        self._op("diag", S, (X, Y, W), guard)

    def scale_add(self, X, Y, C, w, one_minus=False, guard=0):
        """X += c Y with c = C[col] (or 1 - C[col])."""
        self._op("scale_add", w, (X, Y, C), guard, code=int(one_minus))

    def outer(self, X, Y, Z, w, n, ld):
        """X[q, i*ld + c] += Y[q, i] Z[q, c] for i < w, c < n (a weight block's derivative
        rows: δ times the tap)."""
        self._op("outer", w, (X, Y, Z), inner=n, code=ld)

    def dmul(self, X, Y, Z, w, ld=1):
        """X[q, i*ld] += Y[q, i] Z[q, i]."""
        self._op("dmul", w, (X, Y, Z), code=ld)

    def dot(self, X, Y, Z, w, subtract=False):
        """X[q, 0] += Σ_i Y[q, i] Z[q, i] (or -=)."""
        self._op("dot", w, (X, Y, Z), code=int(subtract))

    def transfer(self, X, N, name, w):
        """X = f(N) for the transfer ``name``. One that continues the previous operation
        (the same transfer, X and N each its next columns: fused gates side by side, the
        three sigmoids of an LSTM) widens it instead: one dispatch instead of three."""
        code = self.code(name)
        if len(self._rows) > self._sealed:
            last = self._rows[-1]
            x, n = OPERAND0, OPERAND0 + 4
            if (last[0] == OPS["transfer"] and last[4] == code
                    and last[x:x + 4] == [X.buf, X.off, X.col - last[1], X.stride]
                    and last[n:n + 4] == [N.buf, N.off, N.col - last[1], N.stride]):
                if self._arrays[X.buf] is None:
                    self._track(X, True, w)
                if self._arrays[N.buf] is None:
                    self._track(N, False, w)
                last[1] += w
                return
        self._op("transfer", w, (X, N), code=code)

    def deriv(self, X, G, N, A, name, w):
        """X = G * f'(N, A)."""
        self._op("deriv", w, (X, G, N, A), code=self.code(name))

    @staticmethod
    def code(name):
        if name not in CODES:
            raise NotCompilable(f"transfer {name} has no element rule")
        return CODES[name]

    # -- result ---------------------------------------------------------------------
    def mark(self) -> int:
        """The number of operations so far: :meth:`program` slices from marks (operations
        before a mark are no longer joined with later ones)."""
        self._sealed = len(self._rows)
        return self._sealed

    def layout(self, spare=False) -> None:
        """Copy the buffers into one workspace (:attr:`ws`; buffer b starts at
        ``base[b]``, see :mod:`.workspace`). Operations may still be added afterwards, not
        buffers. ``spare``: take the workspace from the pool of spare ones (see
        :meth:`run`)."""
        if not self._layout:
            self._layout = workspace.arrange(self._shapes, self._arrays, self._derived,
                                             self._used, self._optional)
        base, total = self._layout
        ws = _take_spare(total) if spare else None
        if ws is None:
            ws = np.empty(total)
        workspace.fill(ws, self.moves(), self._arrays)
        self._ws, self._base = ws, base

    def moves(self):
        """What every run copies in, zeroes and copies back (:func:`.workspace.moves`);
        fixed once the program is laid out (kept in its :class:`Template`)."""
        if self._moves is None:
            self._moves = workspace.moves(self._layout[0], self._shapes, self._arrays,
                                          self._writes, self._derived, self._clean,
                                          self._used, self._optional)
        return self._moves

    @property
    def ws(self) -> np.ndarray:
        return self._ws

    def start(self, ref: Ref, t: int = 0) -> int:
        """Workspace index of element (q = 0, col) of the row for time t (after layout)."""
        return int(self._base[ref.buf] + (t + ref.off) * self.Q * ref.stride + ref.col)

    def where(self, array: np.ndarray) -> int:
        """Workspace index of a registered array's first element (after layout)."""
        return int(self._base[self._index[id(array)]])

    @property
    def n_buffers(self) -> int:
        return len(self._arrays)

    def allocated(self, first: int = 0, stop=None):
        """Workspace ranges (start, length) of the buffers :meth:`alloc` made with buffer
        indices in [first, stop) (after layout)."""
        stop = len(self._arrays) if stop is None else stop
        return [(int(self._base[b]), math.prod(self._shapes[b]))
                for b in range(first, stop) if self._arrays[b] is None]

    def program(self, first: int = 0, stop=None) -> np.ndarray:
        """Operations [first, stop) as the interpreter's int64 table (after layout)."""
        rows = self._rows[first:stop]
        prog = np.array(rows, dtype=np.int64).reshape(-1, N_FIELDS)
        base = np.asarray(self._base, dtype=np.int64)
        for k in range(4):
            # Fold each operand's buffer start into its column field.
            f = OPERAND0 + 4 * k
            prog[:, f + 2] += base[prog[:, f]]
        return prog

    def run(self, t_start: int, t_stop: int, step: int, tmin: int, spare=False,
            hold=False, back=True):
        """Copy the buffers into one workspace, run the program over the given steps, and
        copy the written buffers back.

        ``back=False`` (a workspace kept after the run, not ``spare``): nothing is copied
        back; returns {id(array): view} of each handed-in array the program wrote, its
        results in place in the workspace (the caller takes the views instead: an LSTM's
        gradient at (Q, T, H) = (32, 200, 32) copied 15 MB back and then read it there).

        ``spare``: nothing of the workspace is needed afterwards (no :meth:`array` of the
        program's own buffers), so it comes from, and goes back to, a pool of spare ones —
        a fresh large workspace costs its page faults on every call (~0.5 ms at T·Q·H = 5·10⁴).
        ``hold`` (with ``spare``): it goes back only at :meth:`release`, so that the caller
        can read own buffers through :meth:`array` until then.
        """
        self.layout(spare)
        ws = self._ws
        if self._prog is None:
            self._prog = self.program()
        self.runner()(self._prog, ws, self.Q, t_start, t_stop, step, tmin)
        arrays = self._arrays
        if not back:
            views = {}
            for b, lo, hi in self._moves[2]:
                views[id(arrays[b])] = arrays[b] = ws[lo:hi].reshape(arrays[b].shape)
            return views            # (and array() now gives the views too)
        for b, lo, hi in self._moves[2]:
            arrays[b].reshape(-1)[:] = ws[lo:hi]   # a view: rows() took contiguous only
        if spare and not hold:
            self.release()
        return None

    def runner(self, lazy=False) -> "specialise.Runner":
        """What runs the program (made at the first call; ``lazy``: see
        :class:`.specialise.Runner`)."""
        if self._runner is None:
            # A step function's source and the interpreter's choice read no columns (the
            # buffers' places): before the layout, the rows as emitted serve.
            prog = self._prog
            if prog is None:
                prog = np.array(self._rows, dtype=np.int64).reshape(-1, N_FIELDS)
            self._runner = specialise.Runner(prog, lazy=lazy)
        return self._runner

    def release(self) -> None:
        """Give a spare workspace back to the pool (see :meth:`run`); views of it that
        :meth:`array` gave must no longer be used."""
        if self._ws is not None:
            _give_spare(self._ws)
            self._ws = None

