"""A stored image model as the browser runs it: its encoder and decoder as chains of standard
layers with their weights, in one safetensors file the page's interpreter
(``aedemo/assets/interpreter.js``) reads.

One source for each model: the op lists are traced from the model's own ``encode`` and
``decode`` with ``torch.fx`` (Reed et al., "torch.fx: Practical Program Capture and
Transformation for Deep Learning in Python", 2022), never written a second time for a variant.
Each node that depends on the input becomes one op of a small vocabulary (``OPS``); whatever
depends on the weights alone (the sparse model's normalised atoms) is computed here, once, and
sent as a weight. A model whose graph is not a chain of those ops raises ``Unsupported`` with a
plain sentence, and its page keeps the server's answer.

The file: safetensors whose ``__metadata__["aedemo"]`` is JSON ``{"format": FORMAT, "model":
{"id", "variant", "latent_dim", "dataset"}, "graphs": {"encode": [...], "decode": [...]},
"inputs": {"encode": shape, "decode": shape}, "rounding": {...}}``; each op names its weights'
tensors and gives its output's shape per example (no batch axis). Weights are float16 where a
probe of test digits shows that the pictures do not move by more than MARGIN (``precisions``),
float32 elsewhere; "rounding" says what the probe measured. ``decode(encode(x))`` is the
reconstruction as the server computes it: the VAE's ``encode`` is its posterior mean, and
``decode`` ends with the sigmoid that turns logits into pixels.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import threading
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save as save_safetensors
from torch import fx, nn

from aedemo import roles
from aedemo.model_record import Unusable, layout
from aedemo.store import StoredModel

FORMAT = "aedemo-net/1"
# Part of every URL's version: a file the browser caches for a year must change its URL when
# the exporter changes what it writes, not only when the model does.
REVISION = 2              # 2: float16 rounded by _compensated_half
URL_PREFIX = roles.NET_PATH
# Weights travel as float16 where that keeps the browser's pictures within TOLERANCE of
# PyTorch's float32 ones, measured for each model as it is exported (``precisions``). Measured
# on the lesson's models trained on real MNIST, float16 throughout came to 1.3e-3 for the dense
# k = 16 model over 1,000 test digits, too far; the errors come from every layer, the most for
# its size from the small layers on either side of the code (an error in the code reaches every
# pixel), and those in float32 brought it to 6.2e-4 for 1% more bytes (conv: 1.0e-3 to 6.9e-4).
# Rounding each linear layer so that its outputs move least (``_compensated_half``) rather than
# each weight to its nearest float16 halves the error again, which keeps the large layers in
# float16 (a dense model: 0.96 MB where nearest rounding needed 1.49 MB to stay in the margin).
# A model still over MARGIN on the probe digits gets more of its layers in float32.
# The interpreter computes in float32 and sums in float64; only the stored weights are rounded.
TOLERANCE = 1e-3           # the issue's: max abs pixel difference from PyTorch's float32
MARGIN = 0.7 * TOLERANCE   # on the probe digits; other digits may come out a little worse
PROBE_DIGITS = 200
# Training digits whose activations the float16 rounding is fitted to (``_compensated_half``),
# and its damping, a share of the inputs' mean energy (GPTQ's default), which keeps the inverse
# well-behaved where inputs are nearly collinear.
CALIBRATION_DIGITS = 1000
GPTQ_DAMPING = 0.01
# A batch of two when tracing: a reshape that mixed the examples of a batch (view(-1)) would
# change the leading axis, and is refused, where a batch of one would hide it.
TRACE_BATCH = 2

OPS = ("linear", "conv2d", "conv_transpose2d", "relu", "sigmoid", "tanh", "leaky_relu",
       "reshape", "flatten")
ACTIVATIONS = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
               torch.relu: "relu", F.relu: "relu", torch.sigmoid: "sigmoid",
               torch.tanh: "tanh", F.leaky_relu: "leaky_relu", nn.LeakyReLU: "leaky_relu",
               "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)      # exactly these: a subclass may differ
RESHAPES = {"view": "reshape", "reshape": "reshape", "flatten": "flatten",
            torch.reshape: "reshape", torch.flatten: "flatten", nn.Flatten: "flatten"}


class Unsupported(ValueError):
    """This model cannot run in the browser; the message says why, in plain words."""


# --- tracing -------------------------------------------------------------------------------

class _Method(nn.Module):
    """One of a model's methods as a module's forward, which is what torch.fx traces."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, x):
        return getattr(self.model, self.method)(x)


class _Recorder(fx.Interpreter):
    """Runs a traced graph on an example and keeps every node's value: the shapes the ops
    need, and the value of whatever depends on the weights alone."""

    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        self.values[n] = value = super().run_node(n)
        return value


# torch.fx traces by patching nn.Module.__call__ (and __getattr__) for the whole process, while
# the server's other threads run models too: a page's reconstructions failed with "module is not
# installed as a submodule" whenever the route was exporting a model at that moment. The tracer
# below lets every thread but its own call modules as usual; and one trace runs at a time (two
# at once, the route exporting a page's five models in threads of their own, broke each other).
_TRACING = threading.Lock()


class _OwnThreadTracer(fx.Tracer):
    """fx's tracer, for the thread that traces only."""

    def __init__(self):
        super().__init__()
        self._thread = threading.get_ident()

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self._thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def _symbolic_trace(root: nn.Module) -> fx.GraphModule:
    """fx.symbolic_trace(root), as fx does it, with _OwnThreadTracer."""
    tracer = _OwnThreadTracer()
    graph = tracer.trace(root)
    return fx.GraphModule(tracer.root, graph, root.__class__.__name__)


def trace(model: nn.Module, method: str, example: torch.Tensor,
          tensors: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """``model.<method>`` as a list of ops; their weights are added to ``tensors`` under names
    that begin with ``method``. Raises Unsupported for what is not a chain of OPS."""
    with _TRACING:
        return _trace(model, method, example, tensors)


def _trace(model: nn.Module, method: str, example: torch.Tensor,
           tensors: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    what = f"its {method} step"
    try:
        graph_module = _symbolic_trace(_Method(model, method))
    except Exception as err:          # fx says why in its own words: data-dependent control flow
        raise Unsupported(f"{what} cannot be read as a list of layers ({err}).") from None
    graph_module.graph.eliminate_dead_code()     # the VAE's log-variance: not part of encode
    graph_module.recompile()
    recorder = _Recorder(graph_module)
    with torch.no_grad():
        recorder.run(example)
    values = recorder.values

    ops: list[dict[str, Any]] = []
    carried: fx.Node | None = None       # the node whose value the chain carries so far
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            carried = node
            continue
        inputs = [a for a in node.all_input_nodes if _depends_on_input(a)]
        if node.op == "output":
            if inputs != [carried]:
                raise Unsupported(f"{what} does not end in its last layer.")
            break
        if not inputs:
            continue                      # weights alone (get_attr, the sparse atoms): folded
        if inputs != [carried] or node.args[0] is not carried:
            raise Unsupported(f"{what} is not one chain of layers (at {node.name}).")
        ops.append(_op(node, graph_module, values, values[carried], values[node], method,
                       len(ops), tensors, what))
        node.meta["aedemo_dynamic"] = True
        carried = node
    return ops


def _depends_on_input(node: fx.Node) -> bool:
    return node.op == "placeholder" or node.meta.get("aedemo_dynamic", False)


def _op(node: fx.Node, module: fx.GraphModule, values: dict[fx.Node, Any],
        x: torch.Tensor, y: torch.Tensor, graph: str, index: int,
        tensors: dict[str, torch.Tensor], what: str) -> dict[str, Any]:
    """The op for one node of the chain, taking ``x`` to ``y`` (an example batch of each)."""
    kind = node.target
    if node.op == "call_module":
        layer = module.get_submodule(node.target)
        kind = type(layer)
        if kind not in LAYERS and kind not in ACTIVATIONS and kind not in RESHAPES:
            raise Unsupported(f"its layer {kind.__name__} ({node.target}) has no counterpart "
                              f"in the browser's interpreter.")
    if not isinstance(y, torch.Tensor) or y.shape[:1] != x.shape[:1]:
        raise Unsupported(f"{what} mixes the examples of a batch (at {node.name}).")
    shape = list(y.shape[1:])

    def constant(arg) -> torch.Tensor | None:
        value = values[arg] if isinstance(arg, fx.Node) else arg
        return None if value is None else value.detach()

    def weights(weight: torch.Tensor, bias: torch.Tensor | None) -> dict[str, str | None]:
        names = {"weight": f"{graph}.{index}.weight",
                 "bias": None if bias is None else f"{graph}.{index}.bias"}
        tensors[names["weight"]] = weight.detach().contiguous()
        if bias is not None:
            tensors[names["bias"]] = bias.detach().contiguous()
        return names

    if node.op == "call_module":
        if kind is nn.Linear:
            return _linear(x, shape, weights(layer.weight, layer.bias))
        if kind in (nn.Conv2d, nn.ConvTranspose2d):
            return _conv(layer, x, shape, weights(layer.weight, layer.bias), what)
        if kind is nn.LeakyReLU:
            return {"op": "leaky_relu", "slope": layer.negative_slope, "shape": shape}
        if kind is nn.Flatten and layer.start_dim != 1:
            raise Unsupported(f"{what} flattens from an axis other than the first after the "
                              f"batch.")
    elif node.op == "call_function" and kind is F.linear:
        weight = constant(node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
        bias = constant(node.args[2] if len(node.args) > 2 else node.kwargs.get("bias"))
        return _linear(x, shape, weights(weight, bias))
    elif node.op == "call_function" and kind is operator.getitem:
        raise Unsupported(f"{what} indexes a tensor ({node.name}).")
    if kind in ACTIVATIONS:
        name = ACTIVATIONS[kind]
        if name == "leaky_relu":       # F.leaky_relu(x, negative_slope=0.01)
            slope = node.args[1] if len(node.args) > 1 else node.kwargs.get(
                "negative_slope", 0.01)
            return {"op": "leaky_relu", "slope": float(slope), "shape": shape}
        if len(node.args) > 1 or set(node.kwargs) - {"inplace"}:
            raise Unsupported(f"{what} calls {node.name} with arguments the interpreter "
                              f"does not take.")
        return {"op": name, "shape": shape}
    if kind in RESHAPES:
        if y.numel() != x.numel():
            raise Unsupported(f"{what} reshapes to a different size (at {node.name}).")
        # the data stays where it is (row-major, one example after another): only the shape
        # the next layer reads changes
        return {"op": RESHAPES[kind], "shape": shape}
    name = getattr(kind, "__name__", str(kind))
    raise Unsupported(f"{what} uses {name}, which the browser's interpreter does not have.")


def _linear(x: torch.Tensor, shape: list[int], names: dict[str, str | None]) -> dict[str, Any]:
    if x.dim() != 2:
        raise Unsupported("a linear layer is applied to more than one axis of an example.")
    return {"op": "linear", **names, "in": int(x.shape[1]), "out": shape[0], "shape": shape}


def _conv(layer: nn.Module, x: torch.Tensor, shape: list[int], names: dict[str, str | None],
          what: str) -> dict[str, Any]:
    # what the interpreter's two loops do: one group, no dilation, zero padding given in pixels
    if (layer.groups != 1 or tuple(layer.dilation) != (1, 1) or layer.padding_mode != "zeros"
            or isinstance(layer.padding, str) or x.dim() != 4):
        raise Unsupported(f"{what} has a convolution with groups, dilation or padding the "
                          f"browser's interpreter does not do.")
    op = "conv2d" if isinstance(layer, nn.Conv2d) else "conv_transpose2d"
    return {"op": op, **names, "in_shape": list(x.shape[1:]), "shape": shape,
            "kernel": list(layer.kernel_size), "stride": list(layer.stride),
            "padding": list(layer.padding)}


# --- the file ------------------------------------------------------------------------------

def graphs(model: nn.Module) -> tuple[dict[str, list[dict]], dict[str, list[int]],
                                      dict[str, torch.Tensor]]:
    """(op lists by graph, each graph's input shape per example, float32 weights by name) of an
    image model. Raises Unsupported for a model the interpreter cannot run."""
    if getattr(model, "kind", "image") != "image":
        raise Unsupported(f"the {getattr(model, 'title', '') or model.name} reads series, not "
                          f"images, and runs on the server only.")
    device = next(model.parameters()).device
    image = torch.zeros(TRACE_BATCH, 1, 28, 28, device=device)
    code = torch.zeros(TRACE_BATCH, model.latent_dim, device=device)
    tensors: dict[str, torch.Tensor] = {}
    ops = {"encode": trace(model, "encode", image, tensors),
           "decode": trace(model, "decode", code, tensors)}
    return ops, {"encode": [1, 28, 28], "decode": [model.latent_dim]}, tensors


def run(ops: list[dict[str, Any]], tensors: dict[str, torch.Tensor],
        x: torch.Tensor) -> torch.Tensor:
    """A batch through an op list with PyTorch's functional layers, in float64 (as the
    browser's interpreter sums): the reference interpreter.js is a port of, and how this module
    measures what rounding the weights costs."""
    h = x.double()
    for op in ops:
        w = tensors[op["weight"]].double() if "weight" in op else None
        b = tensors[op["bias"]].double() if op.get("bias") else None
        kind = op["op"]
        if kind == "linear":
            h = F.linear(h, w, b)
        elif kind == "conv2d":
            h = F.conv2d(h, w, b, stride=op["stride"], padding=op["padding"])
        elif kind == "conv_transpose2d":
            # output_padding is not in the op: the output's shape says it
            natural = [(i - 1) * s - 2 * p + k for i, s, p, k in
                       zip(h.shape[2:], op["stride"], op["padding"], op["kernel"])]
            h = F.conv_transpose2d(h, w, b, stride=op["stride"], padding=op["padding"],
                                   output_padding=[o - n for o, n in
                                                   zip(op["shape"][1:], natural)])
        elif kind in ("relu", "sigmoid", "tanh"):
            h = getattr(torch, kind)(h)
        elif kind == "leaky_relu":
            h = F.leaky_relu(h, op["slope"])
        elif kind in ("reshape", "flatten"):
            h = h.reshape(len(h), *op["shape"])
        else:
            raise ValueError(f"no op {kind}")
    return h.float()


def reconstruct(graphs: dict[str, list[dict]], tensors: dict[str, torch.Tensor],
                x: torch.Tensor) -> torch.Tensor:
    """decode(encode(x)) by ``run``: what the browser shows for the images x."""
    return run(graphs["decode"], tensors, run(graphs["encode"], tensors, x))


def _layer_inputs(ops: dict[str, list[dict]], tensors: dict[str, torch.Tensor],
                  x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each linear layer's weight name -> its inputs (n, in) when the images x go through the
    model unrounded: the activations whose error ``_compensated_half`` minimises."""
    inputs, h = {}, x
    for graph in ("encode", "decode"):
        for op in ops[graph]:
            if op["op"] == "linear":
                inputs[op["weight"]] = h.reshape(len(h), -1).double()
            h = run([op], tensors, h)
    return inputs


def _compensated_half(weight: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """A linear layer's (out, in) weights in float16, each column rounded in turn and its
    rounding error pushed onto the columns not yet rounded, weighted by how the inputs
    correlate, so that the layer's outputs on ``inputs`` move least (GPTQ: Frantar et al.,
    "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers", 2023,
    Algorithm 1 with one block; here the grid is float16's, not integers). On the lesson's
    models it halves the largest pixel error of rounding to the nearest float16."""
    w = weight.double().clone()
    hessian = inputs.T @ inputs                                        # (in, in)
    # an input that is always 0 on these images (an edge pixel) takes and gives no error
    dead = hessian.diagonal() == 0
    hessian[dead, dead] = 1.0
    hessian += GPTQ_DAMPING * hessian.diagonal().mean() * torch.eye(len(hessian),
                                                                      dtype=hessian.dtype)
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(hessian))
    u = torch.linalg.cholesky(inverse, upper=True)
    # the compensation moves no weight further than float16's spacing at the layer's largest
    # weight (twice what nearest rounding moves that one), and rounding then half a spacing
    # more: inputs unlike these images (a stroke where digits seldom have ink) meet errors of
    # the size plain rounding makes
    bound = 2.0 ** (torch.floor(torch.log2(w.abs().max())) - 10).item()
    original = w.clone()
    rounded = torch.empty_like(w)
    for j in range(w.shape[1]):
        w[:, j] = torch.minimum(torch.maximum(w[:, j], original[:, j] - bound),
                                original[:, j] + bound)
        rounded[:, j] = w[:, j].half().double()
        error = (w[:, j] - rounded[:, j]) / u[j, j]
        w[:, j + 1:] -= error[:, None] * u[j, j + 1:][None, :]
    return rounded.half()


def precisions(ops: dict[str, list[dict]], tensors: dict[str, torch.Tensor],
               probe: torch.Tensor | None, calibration: torch.Tensor | None = None,
               ) -> tuple[dict[str, torch.Tensor], float | None]:
    """(each tensor as it is stored, the largest pixel difference that rounding makes on
    ``probe``): float16 but for the biases and the layers next to the code, linear layers
    rounded by ``_compensated_half`` on the ``calibration`` images' activations (training
    digits, never the probe's: the probe then measures digits the rounding did not see);
    while that moves a pixel of the probe digits' reconstructions by more than MARGIN,
    tensors go back to float32 one at a time, each time the one that takes the most error off
    for the bytes it adds. Without a probe, float32 throughout."""
    if probe is None:
        return dict(tensors), None
    near_code = {[op for op in ops["encode"] if "weight" in op][-1]["weight"],
                 [op for op in ops["decode"] if "weight" in op][0]["weight"]}
    halves = {name: t.half() for name, t in tensors.items()
              if name not in near_code and not name.endswith(".bias")}
    with torch.no_grad():
        if calibration is not None:
            for name, inputs in _layer_inputs(ops, tensors, calibration).items():
                if name in halves:
                    halves[name] = _compensated_half(tensors[name], inputs)
        exact = reconstruct(ops, tensors, probe)

        def worst_with(kept: dict[str, torch.Tensor]) -> float:
            stored = {name: kept.get(name, t).float() for name, t in tensors.items()}
            return (reconstruct(ops, stored, probe) - exact).abs().max().item()

        worst = worst_with(halves)
        while worst > MARGIN and halves:
            # each float16 tensor tried back in float32: the one that takes the most error
            # off per byte it adds goes back (a large layer may carry the error that several
            # small ones do not)
            tried = {name: worst_with({n: t for n, t in halves.items() if n != name})
                     for name in halves}
            back = max(tried, key=lambda name: ((worst - tried[name]) / halves[name].numel(),
                                                -halves[name].numel(), name))
            del halves[back]
            worst = tried[back]
        return {name: halves.get(name, t) for name, t in tensors.items()}, worst


def to_bytes(model: nn.Module, model_id: str, dataset: str, *,
             probe: torch.Tensor | None = None, calibration: torch.Tensor | None = None,
             dtype: torch.dtype | None = None) -> bytes:
    """The safetensors file the browser loads for ``model``: its weights as ``dtype``, or else
    as ``precisions`` chooses them on the ``probe`` and ``calibration`` images (float32
    without a probe)."""
    ops, inputs, tensors = graphs(model)
    tensors = {name: t.to("cpu", torch.float32) for name, t in tensors.items()}
    if dtype is not None:
        stored, worst = {name: t.to(dtype) for name, t in tensors.items()}, None
    else:
        stored, worst = precisions(ops, tensors, probe, calibration)
    meta = {"format": FORMAT,
            "model": {"id": model_id, "variant": model.name, "latent_dim": model.latent_dim,
                      "dataset": dataset},
            "graphs": ops, "inputs": inputs,
            # what rounding the weights cost on the probe digits (None: not measured)
            "rounding": {"max_pixel_difference": worst,
                         "probe_digits": None if probe is None else len(probe)}}
    return save_safetensors({name: t.contiguous() for name, t in stored.items()},
                            metadata={"aedemo": json.dumps(meta)})


def stored_bytes(model: nn.Module, data: Any, model_id: str, dataset: str) -> bytes:
    """``to_bytes`` in the form ``Service.derived`` calls: the loaded model, the app's image
    set (None while it loads: float32 then), its first PROBE_DIGITS test images the probe and
    its first CALIBRATION_DIGITS training images what the rounding is fitted to."""
    if data is None:
        return to_bytes(model, model_id, dataset)
    return to_bytes(model, model_id, dataset, probe=data.x_test[:PROBE_DIGITS],
                    calibration=data.x_train[:CALIBRATION_DIGITS])


def read_meta(payload: bytes) -> dict[str, Any]:
    """The ``aedemo`` metadata of an exported file, parsed."""
    length = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + length])
    return json.loads(header["__metadata__"]["aedemo"])


# --- where the browser finds it -------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _exportable(variant: str, hparams: tuple[tuple[str, Any], ...]) -> bool:
    """Whether a model of these settings exports, found once by tracing its layout on
    PyTorch's meta device (shapes only, no weights), so a page's rerun only looks it up."""
    from aedemo.spec import ModelSpec

    try:
        graphs(layout(ModelSpec(variant=variant, hparams=hparams, dataset="")))
    except (Unsupported, Unusable):
        return False
    return True


def version(stored: StoredModel) -> str:
    """What changes whenever the model's files do: a digest of its description as stored (id,
    creation stamp, training history with its timings, metrics: a model saved again, even
    under the same id within the same second, has another), and of the exporter's revision.
    The store reads the description once per version of its file, so this costs a hash of a
    few kilobytes."""
    text = json.dumps([stored.meta, FORMAT, REVISION], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def net_url(stored: StoredModel) -> str | None:
    """Where the browser fetches ``stored``'s exported file, or None when it cannot run there
    (an unusable model, a sequence model, a layer the interpreter lacks)."""
    spec = stored.spec
    if not stored.ok or spec is None or not _exportable(spec.variant, tuple(spec.hparams)):
        return None
    return f"{URL_PREFIX}/{stored.id}/{version(stored)}.safetensors"


def exported_for(stored: StoredModel | None, asked_version: str,
                 export: Callable[[StoredModel], bytes]) -> bytes | None:
    """The route's answer: ``export(stored)`` when ``asked_version`` is the model's version now,
    else None (no such model, a stale version, a model that does not export)."""
    if stored is None or net_url(stored) is None or asked_version != version(stored):
        return None
    try:
        return export(stored)
    except Unsupported:
        return None
