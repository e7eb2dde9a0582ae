"""An example custom layer with a hand-written backward, checked by ``tinygen gradcheck``.

Swish (Ramachandran et al. 2017, arXiv 1710.05941):  y = x * sigmoid(beta * x),
with a learnable beta. Its derivative, written by hand:

    dy/dx    = s + beta x s (1 - s),         s = sigmoid(beta x)
    dy/dbeta = x^2 s (1 - s)

The backward is written with Tensor operations, so it is differentiable
itself and ``--second-order`` checks pass too. Try it:

    tinygen gradcheck demos/custom_layer.py:Swish --shape 2,3,8,8 --second-order

Then break the formula (drop the ``beta *`` in ``dy/dx``) and watch the report
name the input, the element, and the analytic versus numeric values.
"""
import tinygen
from tinygen import nn


class SwishFunction(tinygen.Function):
    def forward(self, x, beta):
        xp = tinygen.get_array_module(x)
        s = 0.5 * (xp.tanh(0.5 * beta * x) + 1)
        return x * s

    def backward(self, gy):
        x, beta = self.inputs
        s = tinygen.sigmoid(beta * x)                 # recomputed from tensors: double backward works
        ds = s * (1.0 - s)
        gx = gy * (s + beta * x * ds)
        gbeta = (gy * x * x * ds).sum().reshape(beta.shape)
        return gx, gbeta


class Swish(nn.Module):
    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = nn.Parameter(tinygen.tensor([beta]))

    def forward(self, x):
        return SwishFunction()(x, self.beta)
