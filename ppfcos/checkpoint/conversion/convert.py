"""Convert another framework's checkpoint into a ``.pdparams`` file for a given model."""
import paddle

from ...core.files import atomic_path
from .mmdet import convert_mmdet_state, state_dict_of
from .torch_file import load_torch_file


def _from_mmdet(path, shapes):
    return convert_mmdet_state(shapes, state_dict_of(load_torch_file(path)))


# --from value -> reader(input path, {our name: shape}) -> {our name: numpy array}.
SOURCES = {"mmdet": _from_mmdet}


def convert_weights(model, source, input_path, output_path):
    """Read ``input_path`` (a checkpoint of framework ``source``), map every tensor onto
    ``model``'s state dict and write it to ``output_path`` atomically.

    Raises ConversionError (listing missing, left-over and mis-shaped tensors),
    TorchFileError or UnsafePickleError before anything is written. Returns the number
    of tensors written.
    """
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    state = SOURCES[source](input_path, shapes)
    with atomic_path(output_path) as tmp:
        paddle.save({name: paddle.to_tensor(value) for name, value in state.items()}, tmp)
    return len(state)
