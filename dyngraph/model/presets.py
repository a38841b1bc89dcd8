"""Model presets: the classic dynamic architectures as ordinary :class:`Net` objects.

``dg.narx``, ``dg.timedelay``, ``dg.distdelay``, ``dg.layrec``, ``dg.state_space`` and
``dg.arx`` (MATLAB's ``narxnet``, ``timedelaynet``, ``distdelaynet``, ``layrecnet``, a neural
state-space model and linear ARX). Each one writes the spec document a user would write by
hand and reads it through the language's own loader (:func:`~dyngraph.language.loads_spec`),
so the net is exactly what that YAML gives, ``spec_to_yaml(net.spec)`` is a file to start
editing from, and there is no second parser of delays, sizes, names or transfers.

Every argument is first checked on its own, by loading a one-layer probe spec that holds
just that value, so a bad value is reported as a ``ValueError`` naming the preset and the
argument (``narx: input_delays: delay range '2:1' is empty; ...``) with the language's own
message, instead of a position inside generated text.

Naming, the same in every preset: inputs ``u`` and outputs ``y`` unless given by name;
hidden layers ``h`` (one) or ``h1, h2, ...`` (several); in series-parallel form each output
``y`` is fed back through an input ``y_meas`` declared ``feedback_of: y`` (what
``net.openloop()`` of the parallel form gives). The output layers are linear.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from typing import Dict, List, Sequence, Tuple

import yaml

from ..language.loader import loads_spec
from ..language.spec import SpecError
from .net import Net

__all__ = ["narx", "timedelay", "distdelay", "layrec", "state_space", "arx", "PRESETS"]

FORMS = ("parallel", "series-parallel")

#: A position inside a probe spec means nothing to the caller; it is cut from messages.
_PROBE_WHERE = re.compile(r" \(first at <[^>]*>:\d+:\d+\)")


# ---------------------------------------------------------------------- argument checks
def _fail(func: str, arg: str, message: str):
    raise ValueError(f"{func}: {arg}: {message}")


class _Dumper(yaml.SafeDumper):
    """Safe YAML that spells shared values out (the language refuses anchors and aliases)."""

    def ignore_aliases(self, data):
        return True


def _dump(doc) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100)


def _probe(func: str, arg: str, doc):
    """Load the small spec ``doc`` holding one argument's value; its problems become a
    ``ValueError`` naming the argument (the language's messages, without positions)."""
    try:
        return loads_spec(_dump(doc), file=f"<{arg}>")
    except SpecError as err:
        messages = dict.fromkeys(_PROBE_WHERE.sub("", p.message) for p in err.problems)
        _fail(func, arg, "; ".join(messages))


def _probe_doc(size=1, transfer="linear", delays=(0,), name="u"):
    return {"inputs": {name: 1},
            "layers": {"y": {"size": size, "transfer": transfer,
                             "from": {name: {"delays": delays}}}},
            "outputs": ["y"]}


def _int(func: str, arg: str, value) -> int:
    if isinstance(value, bool):
        _fail(func, arg, f"expected an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        _fail(func, arg, f"expected an integer, got {value!r}")


def _size(func: str, arg: str, value) -> int:
    n = _int(func, arg, value)
    spec = _probe(func, arg, _probe_doc(size=n))
    return spec.layers[0].size


def _delay_text(value):
    """A delays argument as the YAML value the language reads: text, an int or a list."""
    if isinstance(value, (str, bool)):
        return value
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, (list, tuple, range)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        return [item if isinstance(item, str) else _index_or_self(item) for item in items]
    return value


def _index_or_self(item):
    try:
        return item if isinstance(item, bool) else operator.index(item)
    except TypeError:
        return item


def _delays(func: str, arg: str, value, minimum: int = 0) -> Tuple[int, ...]:
    """Delays written as in the spec language ("1:2", 2, [1, 3], ["0:2", 5]), checked by it."""
    text = _delay_text(value)
    if not isinstance(text, (str, int, list)) or isinstance(text, bool):
        _fail(func, arg, f"expected delays like \"1:2\", 2 or [1, 3], got {value!r}")
    if isinstance(text, list) and not all(isinstance(i, (str, int)) and not isinstance(i, bool)
                                          for i in text):
        _fail(func, arg, f"expected delays like \"1:2\", 2 or [1, 3], got {value!r}")
    delays = _probe(func, arg, _probe_doc(delays=text)).layers[0].links[0].delays
    if min(delays) < minimum:
        _fail(func, arg, f"delays must be >= {minimum} (a delay-0 feedback would be an "
                         f"algebraic loop), got {_show(delays)}")
    return delays


def _transfer(func: str, value) -> str:
    if not isinstance(value, str):
        _fail(func, "transfer", f"expected a transfer function name, got {value!r}")
    return _probe(func, "transfer", _probe_doc(transfer=value)).layers[0].transfer


def _ports(func: str, arg: str, value, default: str) -> Dict[str, int]:
    """``inputs``/``outputs``: a size (one port named ``default``) or a dict name -> size."""
    if not isinstance(value, Mapping):
        return {default: _size(func, arg, value)}
    if not value:
        _fail(func, arg, "expected at least one name -> size entry, got an empty mapping")
    out = {}
    for name, size in value.items():
        if not isinstance(name, str):
            _fail(func, arg, f"names must be text, got {name!r}")
        n = _int(func, f"{arg}[{name!r}]", size)
        # The probe layer reads a second input, so the name is judged once, as a port name.
        other = name + "_probe" if isinstance(name, str) and name.isidentifier() else "p"
        doc = {"inputs": {name: n, other: 1},
               "layers": {other + "_l": {"size": 1, "from": other}}, "outputs": [other + "_l"]}
        out[name] = _probe(func, f"{arg}[{name!r}]", doc).inputs[0].size
    return out


def _hidden(func: str, value, allow_empty: bool = True, arg: str = "hidden") -> Tuple[int, ...]:
    """Hidden layer sizes: an int (one layer) or a sequence of ints (one per layer)."""
    if isinstance(value, (str, bytes, Mapping)):
        _fail(func, arg, f"expected a size or a list of sizes, got {value!r}")
    try:
        sizes = [value] if not hasattr(value, "__iter__") else list(value)
    except TypeError:
        _fail(func, arg, f"expected a size or a list of sizes, got {value!r}")
    if not sizes and not allow_empty:
        _fail(func, arg, "expected at least one hidden layer, got none")
    return tuple(_size(func, f"{arg}[{k}]", s) for k, s in enumerate(sizes))


def _form(func: str, value) -> str:
    if value not in FORMS:
        _fail(func, "form", f"expected 'parallel' or 'series-parallel', got {value!r}")
    return value


def _seed(func: str, value) -> int:
    seed = _int(func, "seed", value)
    if seed < 0:
        _fail(func, "seed", f"expected a non-negative integer, got {seed}")
    return seed


# ---------------------------------------------------------------------- building
def _show(delays: Sequence[int]) -> str:
    """Delays as short text: "1:3" for a run of two or more, else the list."""
    d = list(delays)
    if len(d) > 1 and d == list(range(d[0], d[0] + len(d))):
        return f"{d[0]}:{d[-1]}"
    return str(d[0]) if len(d) == 1 else str(d)


def _names(prefix: str, sizes: Sequence[int]) -> List[str]:
    return [prefix] if len(sizes) == 1 else [f"{prefix}{k + 1}" for k in range(len(sizes))]


def _link(delays) -> dict:
    return {"delays": [int(d) for d in delays]}


def _layer(size, transfer, links, bias=True) -> dict:
    out = {"size": int(size), "transfer": transfer}
    if not bias:
        out["bias"] = False
    out["from"] = links
    return out


def _unique(func: str, inputs, outputs, made: Sequence[str]) -> None:
    """The user's port names must not collide with each other or the preset's own names."""
    if set(inputs) & set(outputs):
        _fail(func, "outputs", f"name '{min(set(inputs) & set(outputs))}' is also an input")
    for arg, ports in (("inputs", inputs), ("outputs", outputs)):
        for name in ports:
            if name in made:
                _fail(func, arg, f"name '{name}' is taken by the preset's own layers or inputs "
                                 f"({', '.join(made)}); choose another")


def _ports_text(ports: Dict[str, int]) -> str:
    return ", ".join(f"{k}({n})" for k, n in ports.items())


def _build(func: str, name: str, description: str, inputs: Dict[str, int],
           layers: Dict[str, dict], outputs: Sequence[str], seed: int) -> Net:
    doc = {"dyngraph": 1, "name": name, "description": description,
           "inputs": inputs, "layers": layers, "outputs": list(outputs)}
    try:
        return Net(loads_spec(_dump(doc), file=f"<dg.{func}>"), seed=seed)
    except SpecError as err:  # the arguments were checked one by one; this is a combination
        raise ValueError(f"{func}: " + "; ".join(f"{p.context}: {p.message}"
                                                 for p in err.problems)) from None


def _chain(names, sizes, transfer, first_links, delays=None) -> Dict[str, dict]:
    """Hidden layers in a chain: the first reads ``first_links``, layer k reads layer k-1
    through ``delays[k]`` (default delay 0)."""
    layers = {}
    for k, (nm, size) in enumerate(zip(names, sizes)):
        links = first_links if k == 0 else {names[k - 1]: _link(delays[k] if delays else (0,))}
        layers[nm] = _layer(size, transfer, links)
    return layers


def _feedback_model(func, kind, inputs, outputs, input_delays, feedback_delays, hidden,
                    transfer, form, seed, bias=True, linear=False):
    """NARX and ARX: the shared builder (ARX is the case without hidden layers)."""
    meas = {o: f"{o}_meas" for o in outputs} if form == "series-parallel" else {}
    names = _names("h", hidden) if hidden else []
    _unique(func, inputs, outputs, names + list(meas.values()))
    fed = {meas.get(o, o): _link(feedback_delays) for o in outputs}
    first = {**{u: _link(input_delays) for u in inputs}, **fed}
    layers = _chain(names, hidden, transfer, first)
    for o, size in outputs.items():
        links = {names[-1]: _link((0,))} if names else first
        if linear and names:
            # The linear path: the output also reads the delayed inputs and outputs
            # directly, so the model contains ARX (dg.fit_linear_path starts it there).
            links = {**links, **first}
        layers[o] = _layer(size, "linear", links, bias=bias)
    spec_inputs = dict(inputs)
    for o, m in meas.items():
        spec_inputs[m] = {"size": outputs[o], "feedback_of": o}
    tag = "parallel" if form == "parallel" else "series_parallel"
    hid = f", hidden {list(hidden)} {transfer}" if hidden else ", no hidden layer (linear)"
    if linear and hidden:
        hid += " and a linear path"
    desc = (f"{kind} network, {form} form: inputs {_ports_text(inputs)}, outputs "
            f"{_ports_text(outputs)}, input delays {_show(input_delays)}, feedback delays "
            f"{_show(feedback_delays)}{hid} (made by dg.{func})")
    return _build(func, f"{func}_{tag}", desc, spec_inputs, layers, list(outputs), seed)


# ---------------------------------------------------------------------- the presets
def narx(inputs=1, outputs=1, input_delays="1:2", feedback_delays="1:2", hidden=(10,),
         transfer="tanh", form="parallel", seed=0, linear=False) -> Net:
    """NARX network (MATLAB ``narxnet``): hidden layers over delayed inputs and outputs.

    Parameters
    ----------
    inputs, outputs : int or dict name -> int
        Sizes of the exogenous input(s) and output(s); an int is one port named ``u`` / ``y``.
    input_delays, feedback_delays : str, int or list
        Delays as in the spec language (``"1:2"``, ``2``, ``[1, 3]``); feedback delays >= 1.
    hidden : int or sequence of int
        Hidden layer sizes (``h`` or ``h1, h2, ...``); empty gives a linear (ARX) model.
    transfer : str
        Transfer function of the hidden layers; the output layers are linear.
    form : 'parallel' or 'series-parallel'
        Parallel: the first hidden layer reads the output layer ``y`` itself (closed loop).
        Series-parallel: it reads an input ``y_meas`` declared ``feedback_of: y`` (open
        loop); the net equals ``narx(..., form="parallel").openloop()``.
    seed : int
        Seed of the initial weights.
    linear : bool
        Add a linear path: the output layer also reads the delayed inputs and outputs
        directly, ``y(t) = LW h(t) + sum_d B_d u(t-d) + sum_d A_d y(t-d) + b2``, so the
        model contains ARX; :func:`dyngraph.fit_linear_path` (or ``train(...,
        start="arx")``) starts it at the least-squares ARX.

    Returns
    -------
    Net
        ``h(t) = f(sum_d IW_d u(t-d) + sum_d LW_d y(t-d) + b1)``, ``y(t) = LW h(t) + b2``.

    Examples
    --------
    >>> import dyngraph as dg
    >>> dg.narx(hidden=4).order
    ('u', 'h', 'y')
    >>> dg.narx(form="series-parallel").inputs
    {'u': 1, 'y_meas': 1}
    """
    func = "narx"
    ins, outs = _ports(func, "inputs", inputs, "u"), _ports(func, "outputs", outputs, "y")
    di = _delays(func, "input_delays", input_delays)
    dfb = _delays(func, "feedback_delays", feedback_delays, minimum=1)
    sizes, tr = _hidden(func, hidden), _transfer(func, transfer)
    if not isinstance(linear, bool):
        _fail(func, "linear", f"expected True or False, got {linear!r}")
    return _feedback_model(func, "NARX", ins, outs, di, dfb, sizes, tr, _form(func, form),
                           _seed(func, seed), linear=linear)


def arx(inputs=1, outputs=1, input_delays="1:2", feedback_delays="1:2", form="parallel",
        bias=True, seed=0) -> Net:
    """Linear ARX model: the output layer reads the delayed inputs and outputs directly.

    ``y(t) = sum_d B_d u(t-d) + sum_d A_d y(t-d) + c`` (no hidden layer; ``bias=False``
    drops ``c``, making the model linear rather than affine). Arguments as :func:`narx`.

    Examples
    --------
    >>> import dyngraph as dg
    >>> dg.arx(input_delays="0:2").block_names
    ['y.W[u]', 'y.W[y]', 'y.b']
    """
    func = "arx"
    ins, outs = _ports(func, "inputs", inputs, "u"), _ports(func, "outputs", outputs, "y")
    di = _delays(func, "input_delays", input_delays)
    dfb = _delays(func, "feedback_delays", feedback_delays, minimum=1)
    if not isinstance(bias, bool):
        _fail(func, "bias", f"expected True or False, got {bias!r}")
    return _feedback_model(func, "ARX", ins, outs, di, dfb, (), "linear", _form(func, form),
                           _seed(func, seed), bias=bias)


def timedelay(inputs=1, outputs=1, input_delays="0:1", hidden=(10,), transfer="tanh",
              seed=0) -> Net:
    """Focused time-delay network (MATLAB ``timedelaynet``): a tapped delay line on the
    inputs only, then static hidden layers and a linear output layer.

    ``h(t) = f(sum_d IW_d u(t-d) + b1)``, ``y(t) = LW h(t) + b2``. Arguments as
    :func:`narx`; ``hidden`` may be empty (a linear FIR model).

    Examples
    --------
    >>> import dyngraph as dg
    >>> dg.timedelay(input_delays="0:4", hidden=[8, 4]).order
    ('u', 'h1', 'h2', 'y')
    """
    func = "timedelay"
    ins, outs = _ports(func, "inputs", inputs, "u"), _ports(func, "outputs", outputs, "y")
    di = _delays(func, "input_delays", input_delays)
    sizes, tr, seed = _hidden(func, hidden), _transfer(func, transfer), _seed(func, seed)
    names = _names("h", sizes) if sizes else []
    _unique(func, ins, outs, names)
    first = {u: _link(di) for u in ins}
    layers = _chain(names, sizes, tr, first)
    for o, size in outs.items():
        layers[o] = _layer(size, "linear", {names[-1]: _link((0,))} if names else first)
    hid = f", hidden {list(sizes)} {tr}" if sizes else ", no hidden layer (linear)"
    desc = (f"Focused time-delay network: inputs {_ports_text(ins)}, outputs "
            f"{_ports_text(outs)}, input delays {_show(di)}{hid} (made by dg.timedelay)")
    return _build(func, "timedelay", desc, ins, layers, list(outs), seed)


def distdelay(inputs=1, outputs=1, delays=("0:1", "0:1"), hidden=(10,), transfer="tanh",
              seed=0) -> Net:
    """Distributed time-delay network (MATLAB ``distdelaynet``): a tapped delay line on every
    layer's input.

    Parameters
    ----------
    delays : str, int, or sequence with one entry per layer (``len(hidden) + 1``)
        ``delays[0]`` on the inputs -> first hidden layer, ``delays[k]`` on hidden layer k ->
        the next layer (the last entry feeds the output layers). A single str or int is used
        on every layer; a list of ints counts as one delay per layer.
    Others as :func:`timedelay`.

    Examples
    --------
    >>> import dyngraph as dg
    >>> dg.distdelay(delays=("0:3", "0:2"), hidden=8).block_names
    ['h.W[u]', 'h.b', 'y.W[h]', 'y.b']
    """
    func = "distdelay"
    ins, outs = _ports(func, "inputs", inputs, "u"), _ports(func, "outputs", outputs, "y")
    sizes, tr, seed = _hidden(func, hidden), _transfer(func, transfer), _seed(func, seed)
    single = isinstance(_delay_text(delays), (str, int))     # one entry for every layer
    try:
        per = [delays] * (len(sizes) + 1) if single else list(delays)
    except TypeError:
        _fail(func, "delays", f"expected delays per layer, got {delays!r}")
    if len(per) != len(sizes) + 1:
        _fail(func, "delays", f"expected one entry per layer ({len(sizes) + 1}: the inputs and "
                              f"{len(sizes)} hidden layer(s)), got {len(per)}")
    dl = [_delays(func, f"delays[{k}]", d) for k, d in enumerate(per)]
    names = _names("h", sizes) if sizes else []
    _unique(func, ins, outs, names)
    first = {u: _link(dl[0]) for u in ins}
    layers = _chain(names, sizes, tr, first, delays=dl)
    for o, size in outs.items():
        layers[o] = _layer(size, "linear", {names[-1]: _link(dl[-1])} if names else first)
    hid = f", hidden {list(sizes)} {tr}" if sizes else ", no hidden layer (linear)"
    desc = (f"Distributed time-delay network: inputs {_ports_text(ins)}, outputs "
            f"{_ports_text(outs)}, delays {', '.join(_show(d) for d in dl)} per layer{hid} "
            f"(made by dg.distdelay)")
    return _build(func, "distdelay", desc, ins, layers, list(outs), seed)


def layrec(inputs=1, outputs=1, layer_delays="1:2", hidden=(10,), transfer="tanh",
           input_delays=0, seed=0) -> Net:
    """Layer-recurrent network (MATLAB ``layrecnet``, Elman): each hidden layer feeds back
    to itself through ``layer_delays`` (>= 1).

    ``h1(t) = f(sum_d IW_d u(t-d) + sum_d LW_d h1(t-d) + b1)``, ``hk`` reads ``h(k-1)(t)``
    and itself, ``y(t) = LW h_last(t) + b``. ``input_delays`` (default 0) are on the inputs;
    ``hidden`` needs at least one layer. Others as :func:`narx`.

    Examples
    --------
    >>> import dyngraph as dg
    >>> dg.layrec(layer_delays=1).block_names
    ['h.W[u]', 'h.W[h]', 'h.b', 'y.W[h]', 'y.b']
    """
    func = "layrec"
    ins, outs = _ports(func, "inputs", inputs, "u"), _ports(func, "outputs", outputs, "y")
    dlay = _delays(func, "layer_delays", layer_delays, minimum=1)
    di = _delays(func, "input_delays", input_delays)
    sizes = _hidden(func, hidden, allow_empty=False)
    tr, seed = _transfer(func, transfer), _seed(func, seed)
    names = _names("h", sizes)
    _unique(func, ins, outs, names)
    layers = {}
    for k, (nm, size) in enumerate(zip(names, sizes)):
        links = {u: _link(di) for u in ins} if k == 0 else {names[k - 1]: _link((0,))}
        links[nm] = _link(dlay)
        layers[nm] = _layer(size, tr, links)
    for o, size in outs.items():
        layers[o] = _layer(size, "linear", {names[-1]: _link((0,))})
    desc = (f"Layer-recurrent network: inputs {_ports_text(ins)}, outputs {_ports_text(outs)}, "
            f"input delays {_show(di)}, hidden {list(sizes)} {tr} each fed back through "
            f"delays {_show(dlay)} (made by dg.layrec)")
    return _build(func, "layrec", desc, ins, layers, list(outs), seed)


def state_space(inputs=1, outputs=1, states=2, hidden=(10,), output_hidden=(),
                transfer="tanh", seed=0) -> Net:
    """Neural state-space model: ``x(t) = f(x(t-1), u(t-1))``, ``y(t) = g(x(t))``.

    The state is a linear layer ``x`` of ``states`` units; ``f`` is a chain of hidden
    layers (``f`` or ``f1, f2, ...``, sizes ``hidden``) reading ``u`` and ``x`` through
    delay 1, ending in ``x``; ``g`` is a chain ``g``/``g1, ...`` of sizes ``output_hidden``
    ending in the linear output layer(s) (default: ``y = C x + d``). With both empty it is
    the linear model ``x(t) = A x(t-1) + B u(t-1) + b``, ``y = C x + d``. The initial state
    x(-1) is zero (or given to ``simulate`` as the initial state of ``x``).

    Examples
    --------
    >>> import dyngraph as dg
    >>> dg.state_space(states=3, hidden=5).order
    ('u', 'f', 'x', 'y')
    """
    func = "state_space"
    ins, outs = _ports(func, "inputs", inputs, "u"), _ports(func, "outputs", outputs, "y")
    n = _size(func, "states", states)
    fs, gs = _hidden(func, hidden), _hidden(func, output_hidden, arg="output_hidden")
    tr, seed = _transfer(func, transfer), _seed(func, seed)
    fn, gn = (_names("f", fs) if fs else []), (_names("g", gs) if gs else [])
    _unique(func, ins, outs, fn + ["x"] + gn)
    first = {**{u: _link((1,)) for u in ins}, "x": _link((1,))}
    layers = _chain(fn, fs, tr, first)
    layers["x"] = _layer(n, "linear", {fn[-1]: _link((0,))} if fn else first)
    layers.update(_chain(gn, gs, tr, {"x": _link((0,))}))
    for o, size in outs.items():
        layers[o] = _layer(size, "linear", {(gn[-1] if gn else "x"): _link((0,))})
    desc = (f"Neural state-space model x(t) = f(x(t-1), u(t-1)), y(t) = g(x(t)): inputs "
            f"{_ports_text(ins)}, outputs {_ports_text(outs)}, {n} states, f hidden {list(fs)}, "
            f"g hidden {list(gs)}, {tr} (made by dg.state_space)")
    return _build(func, "state_space", desc, ins, layers, list(outs), seed)


#: The presets by name (the command line's ``dyngraph sweep NAME``).
PRESETS = {"narx": narx, "arx": arx, "timedelay": timedelay, "distdelay": distdelay,
           "layrec": layrec, "state_space": state_space}
