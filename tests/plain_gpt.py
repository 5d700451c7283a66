"""The same GPT as microgpt.py, written the plainest way, for the tests to check against.

Nothing here is tuned. Every + and every * makes a node of its own (a number
on one side becomes a leaf node too), a sum is a chain of two-input
additions, the topological sort is a recursive depth-first search, no node is
fused or pruned, and the weights are read from their Values, never from a
copy. It is slow, and that is the point: there is little here that can be
wrong, so where microgpt's faster engine agrees with it, microgpt is right.

The model does not draw its own weights: PlainGPT takes them as floats, copied
from a microgpt model, so the two start from the same numbers.
"""

import math
import sys

# backward() below recurses once per node on the longest path through the
# graph. For the models the tests build that path is about 250 nodes long
# (one sum chain after another: the mean over positions, softmax, lm_head,
# fc2, ...), and it grows with n_layer and n_embd. That is under Python's
# default limit of 1000, so the raised limit is only headroom, for bigger
# models and for the frames of whoever calls backward().
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))


class Value:
    """A number, the Values it was computed from, and d(self)/d(each of them)."""

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0.0
        self.children = children
        self.local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, k):   # k is a plain number
        return Value(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def exp(self):
        return Value(math.exp(self.data), (self,), (math.exp(self.data),))

    def log(self):
        return Value(math.log(self.data), (self,), (1.0 / self.data,))

    def relu(self):
        return Value(max(0.0, self.data), (self,), (1.0 if self.data > 0 else 0.0,))

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def backward(self):
        """Add d(self)/d(v) to v.grad for every v below self."""
        order, seen = [], set()

        def visit(node):   # list node after everything it was computed from
            if node not in seen:
                seen.add(node)
                for child in node.children:
                    visit(child)
                order.append(node)

        visit(self)
        self.grad = 1.0
        for node in reversed(order):   # every user of a node comes before it
            for child, local_grad in zip(node.children, node.local_grads):
                child.grad += local_grad * node.grad


def total(values):
    """values[0] + values[1] + ..., one addition node at a time, left to right."""
    result = values[0]
    for v in values[1:]:
        result = result + v
    return result


def linear(x, w):
    """w x, for w a list of rows."""
    return [total([wi * xi for wi, xi in zip(row, x)]) for row in w]


def softmax(z):
    biggest = max(zi.data for zi in z)   # a constant: keeps exp() from overflowing
    exps = [(zi - biggest).exp() for zi in z]
    s = total(exps)
    return [e / s for e in exps]


def rmsnorm(x):
    mean_square = total([xi * xi for xi in x]) / len(x)
    scale = (mean_square + 1e-5) ** -0.5
    return [xi * scale for xi in x]


class PlainGPT:
    """weights: {name: rows of floats}, under microgpt's new names (wte, wpe,
    lm_head, layer{i}.attn_wq, ..., layer{i}.mlp_fc2)."""

    def __init__(self, weights, n_layer, n_head, block_size):
        self.n_layer, self.n_head, self.block_size = n_layer, n_head, block_size
        self.state_dict = {name: [[Value(float(w)) for w in row] for row in rows]
                           for name, rows in weights.items()}
        self.params = [p for rows in self.state_dict.values() for row in rows for p in row]

    def forward(self, token, pos, keys, values):
        """Logits after token at position pos; keys and values hold, per layer,
        the vectors of the positions before pos, and gain this one's."""
        sd = self.state_dict
        n_embd = len(sd['wte'][0])
        head_dim = n_embd // self.n_head
        x = [t + p for t, p in zip(sd['wte'][token], sd['wpe'][pos])]
        x = rmsnorm(x)
        for i in range(self.n_layer):
            residual = x
            x = rmsnorm(x)
            q = linear(x, sd[f'layer{i}.attn_wq'])
            keys[i].append(linear(x, sd[f'layer{i}.attn_wk']))
            values[i].append(linear(x, sd[f'layer{i}.attn_wv']))
            heads = []
            for h in range(self.n_head):
                lo, hi = h * head_dim, (h + 1) * head_dim
                scores = [total([a * b for a, b in zip(q[lo:hi], k[lo:hi])]) / head_dim ** 0.5
                          for k in keys[i]]
                weights = softmax(scores)
                heads += [total([w * v[j] for w, v in zip(weights, values[i])])
                          for j in range(lo, hi)]
            x = [a + b for a, b in zip(linear(heads, sd[f'layer{i}.attn_wo']), residual)]
            residual = x
            x = rmsnorm(x)
            x = [h.relu() for h in linear(x, sd[f'layer{i}.mlp_fc1'])]
            x = [a + b for a, b in zip(linear(x, sd[f'layer{i}.mlp_fc2']), residual)]
        return linear(x, sd['lm_head'])

    def loss(self, tokens):
        """Mean of -log p(next token) over the first block_size positions."""
        keys = [[] for _ in range(self.n_layer)]
        values = [[] for _ in range(self.n_layer)]
        losses = []
        for pos in range(min(self.block_size, len(tokens) - 1)):
            probs = softmax(self.forward(tokens[pos], pos, keys, values))
            losses.append(-probs[tokens[pos + 1]].log())
        return total(losses) / len(losses)


def encode(doc, chars, block_size):
    """[BOS] + the ids of doc's first block_size characters + [BOS]; BOS = len(chars)."""
    bos = len(chars)
    return [bos] + [chars.index(c) for c in doc[:block_size]] + [bos]


class Adam:
    def __init__(self, params, beta1=0.85, beta2=0.99, eps=1e-8):
        self.params, self.beta1, self.beta2, self.eps = params, beta1, beta2, eps
        self.m = [0.0] * len(params)
        self.v = [0.0] * len(params)
        self.t = 0

    def step(self, lr):
        """Move each parameter by its .grad, then zero the .grad."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        for i, p in enumerate(self.params):
            self.m[i] = b1 * self.m[i] + (1 - b1) * p.grad
            self.v[i] = b2 * self.v[i] + (1 - b2) * p.grad ** 2
            m_hat = self.m[i] / (1 - b1 ** self.t)
            v_hat = self.v[i] / (1 - b2 ** self.t)
            p.data -= lr * m_hat / (math.sqrt(v_hat) + self.eps)
            p.grad = 0.0


def train(model, docs, chars, steps, lr=0.01, beta1=0.85, beta2=0.99, eps=1e-8):
    """Train on docs[0], docs[1], ... (going round), one per step; yield each
    step's loss, taken before its update. The learning rate falls linearly
    from lr at step 0 toward 0."""
    adam = Adam(model.params, beta1, beta2, eps)
    for step in range(steps):
        loss = model.loss(encode(docs[step % len(docs)], chars, model.block_size))
        loss.backward()
        adam.step(lr * (1 - step / steps))
        yield loss.data
