"""microgpt: a complete GPT, trained and sampled, in one file of plain Python.

Run it:   python microgpt.py            (trains on input.txt, then invents 20 names)
Knobs:    python microgpt.py --help

Read it top to bottom; each section builds on the ones above it:

  0. Settings    every hyperparameter, in one place
  1. Dataset     a text file, one document per line; a tenth held out
  2. Tokenizer   characters to integers, plus one extra token, BOS, at both ends
  3. Autograd    a scalar Value that remembers how it was computed
  4. Model       a GPT: embeddings, attention, MLP, RMSNorm, residuals
  5. Training    cross-entropy loss, the Adam optimizer, the validation loss
  6. Sampling    letting the trained model write, one character at a time
  7. Main        the command line that runs sections 1 to 6 in order, and
                 shows the run: progress, a loss curve, Ctrl-C to stop early

Only the standard library is used. Importing this file runs nothing: the
story is told by main(), at the bottom.
"""

import gc
import math
import operator
import os
import random
import signal
import sys
import time


# ---------------------------------------------------------------------------
# 0. Settings
#
# Every knob of a run lives here, under the names the literature uses. The
# command line (section 7) can override each one; tests make tiny models by
# passing a few overrides, e.g. Config(n_layer=2, n_embd=8).
# ---------------------------------------------------------------------------

class Config:
    """The hyperparameters of one run."""

    # the model
    n_layer = 1          # transformer blocks stacked on top of each other
    n_embd = 16          # length of the vector that represents each position
    n_head = 4           # attention heads; each one works on n_embd // n_head numbers
    block_size = 16      # context length: the most positions the model ever sees
    init_std = 0.08      # weights start as Gaussian noise with this standard deviation

    # training
    steps = 1000         # one document per step
    learning_rate = 0.01 # Adam's step size, decayed linearly toward zero over the run
    beta1 = 0.85         # how slowly Adam's running mean of gradients forgets
    beta2 = 0.99         # how slowly Adam's running mean of squared gradients forgets
    eps = 1e-8           # keeps Adam's division finite when a gradient has been ~0

    # validation
    val_docs = 200       # held-out documents (section 1) to measure the validation loss on

    # sampling
    temperature = 0.5    # below 1 sharpens the model's guesses, above 1 flattens them
    num_samples = 20     # how many new documents to write after training
    prefix = ''          # text every sample starts with ('' for none)

    seed = 42            # one seed fixes everything random: shuffle, weights, samples

    def __init__(self, **overrides):
        for name, value in overrides.items():
            if not hasattr(Config, name):
                raise TypeError(f'Config has no setting {name!r}')
            setattr(self, name, value)


# ---------------------------------------------------------------------------
# 1. Dataset
#
# A document is one line of a text file: a name, a word, a title. The model
# learns what documents look like and then writes new ones. Surrounding
# whitespace (including the \r of Windows line endings) is dropped, and blank
# lines are skipped.
#
# A tenth of the documents is held out: the model never trains on them, so
# its loss on them tells how well it does on documents it has never seen.
# (A line that occurs more than once in the file can land on both sides.)
# ---------------------------------------------------------------------------

class InputError(Exception):
    """Bad input from the user: main() prints it as one line and exits with code 2."""


def load_docs(path):
    """Read the documents in a UTF-8 text file, one per line."""
    docs = []
    try:
        # Read as bytes and decode each line here, rather than in text mode, so
        # that a bad byte can be reported with its line. (The file is only read.)
        with open(path, 'rb') as f:
            for line_number, raw in enumerate(f, start=1):
                if line_number == 1 and raw.startswith(b'\xef\xbb\xbf'):
                    raw = raw[3:]   # the byte-order mark some editors put first
                try:
                    line = raw.decode('utf-8')
                except UnicodeDecodeError as e:
                    raise InputError(f'{path}: line {line_number} is not UTF-8 text '
                                     f'(byte 0x{raw[e.start]:02x})') from None
                # A line may end in \n, \r\n or a lone \r: the endings Python's
                # text mode knows. The \r pieces are split apart here.
                for doc in line.split('\r'):
                    doc = doc.strip()
                    if doc:
                        docs.append(doc)
    except FileNotFoundError:
        raise InputError(f'{path}: no such file') from None
    except IsADirectoryError:
        raise InputError(f'{path}: is a directory, not a text file') from None
    except OSError as e:
        raise InputError(f'{path}: cannot read it ({e.strerror})') from None
    if not docs:
        raise InputError(f'{path}: no documents (the file is empty or has only blank lines)')
    return docs


def split_docs(docs):
    """(training documents, held-out documents): the last tenth is held out.

    The documents should be shuffled first (run() in section 7 does), so that
    the held-out tenth is a fair sample of the file, not just its last lines.
    With fewer than ten documents none are held out: every one is needed for
    training.
    """
    n_train = len(docs) - len(docs) // 10
    return docs[:n_train], docs[n_train:]


# ---------------------------------------------------------------------------
# 2. Tokenizer
#
# The model reads and writes integers, so each distinct character of the data
# gets an id: 0, 1, 2, ... in sorted order. One more id, BOS ("beginning of
# sequence"), is wrapped around every document, at both ends:
#
#     "emma"  ->  [BOS, e, m, m, a, BOS]
#
# The first BOS gives the model something to predict the first letter from;
# the last one is what it must predict when the document is over. One token
# can do both jobs because they never meet: as an input, BOS only ever sits at
# position 0 ("start"); as a prediction, it means "stop". Sampling (section 6)
# starts from BOS and stops when the model writes BOS again.
# ---------------------------------------------------------------------------

class Tokenizer:
    """Characters to integer ids and back."""

    def __init__(self, docs):
        self.chars = sorted(set(''.join(docs)))
        self.ids = {ch: i for i, ch in enumerate(self.chars)}
        self.bos = len(self.chars)            # the id after the last character
        self.vocab_size = len(self.chars) + 1

    def encode(self, doc):
        return [self.bos] + [self.ids[ch] for ch in doc] + [self.bos]

    def decode(self, ids):
        return ''.join(self.chars[i] for i in ids)


# ---------------------------------------------------------------------------
# 3. Autograd
#
# Training needs the gradient of the loss with respect to every parameter:
# how much the loss would change if that one number were nudged. A Value is a
# single number that also remembers how it was made: its inputs (children)
# and the local derivative of the operation with respect to each of them.
# Then loss.backward() applies the chain rule from the loss down:
#
#     child.grad += local_derivative * node.grad
#
# summed over every node that used the child.
# ---------------------------------------------------------------------------

class Value:
    """A scalar in the computation graph."""

    # __slots__ keeps each of the millions of Values a run creates small.
    # (_mark serves the graph search further down; __weakref__ lets the test
    # suite check that a node has been freed.)
    __slots__ = ('data', 'grad', '_children', '_local_grads', '_mark', '__weakref__')

    def __init__(self, data, children=(), local_grads=()):
        self.data = data                  # the number itself
        self.grad = 0.0                   # d(loss)/d(this), filled in by backward()
        self._children = children         # the Values this one was computed from
        self._local_grads = local_grads   # d(this)/d(child), one per child
        # (A dot node is the exception: its _children are two vectors and its
        # _local_grads is None; see dot below.)
        self._mark = None                 # used by topological_order

    def __repr__(self):
        return f'Value(data={self.data}, grad={self.grad})'

    # Each operation: the forward value, then the local derivatives. With a
    # plain number on one side, the number gets no node of its own: it is a
    # constant, and a constant's gradient would only be thrown away.

    def __add__(self, other):
        if isinstance(other, Value):   # d(a+b)/da = 1, d(a+b)/db = 1
            return Value(self.data + other.data, (self, other), (1.0, 1.0))
        return Value(self.data + other, (self,), (1.0,))

    def __mul__(self, other):
        if isinstance(other, Value):   # d(ab)/da = b, d(ab)/db = a
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        return Value(self.data * other, (self,), (other,))

    def __pow__(self, k):               # k must be a number: d(x^k)/dx = k x^(k-1)
        if isinstance(k, Value):
            return NotImplemented
        if k == 0:                      # x^0 = 1 whatever x is (even 0): derivative 0
            return Value(1.0, (self,), (0.0,))
        return Value(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def log(self):                      # d(ln x)/dx = 1/x
        return Value(math.log(self.data), (self,), (1.0 / self.data,))

    def exp(self):                      # d(e^x)/dx = e^x
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def relu(self):                     # d(max(0, x))/dx = 1 if x > 0 else 0
        return Value(max(0.0, self.data), (self,), (1.0 if self.data > 0 else 0.0,))

    # Everything else is built from the operations above. (The model does not
    # use every one of them, but an engine that can + and * should also - and /.)
    def __neg__(self):                  # -a = a * -1
        return self * -1

    def __sub__(self, other):           # a - b = a + (-b)
        return self + (-other)

    def __truediv__(self, other):       # a / b = a * b^-1
        return self * other ** -1

    def __radd__(self, other):          # number + a
        return self + other

    def __rsub__(self, other):          # number - a
        return (-self) + other

    def __rmul__(self, other):          # number * a
        return self * other

    def __rtruediv__(self, other):      # number / a
        return self ** -1 * other

    def backward(self):
        """Add d(self)/d(v) into v.grad for every Value v that self was computed from.

        It adds (+=), so gradients start from 0: Adam.step (section 5) zeroes
        the parameters' gradients after using them. It frees the graph as it
        goes (see the pruning below), so it runs once per graph: to backward
        again, compute again.
        """
        order = topological_order(self)
        self.grad = 1.0   # d(self)/d(self)
        # Walk from self down to the leaves. topological_order puts every node
        # after its inputs, so by the time a node is popped, every node that
        # used it has already added its share to node.grad.
        while order:
            node = order.pop()
            g = node.grad
            # A node whose gradient is exactly 0 has nothing to pass on: skipping
            # it saves, for instance, the whole backward pass of every linear
            # output that feeds a ReLU that is off.
            if g != 0.0:
                if node._local_grads is None:   # a dot node: see dot() below
                    a, b = node._children
                    for ai, bi in zip(a, b):
                        ai.grad += bi.data * g   # d(a.b)/da_i = b_i
                        bi.grad += ai.data * g   # d(a.b)/db_i = a_i
                else:
                    for child, local_grad in zip(node._children, node._local_grads):
                        child.grad += local_grad * g
            # Graph pruning: this node's gradient has been passed on, so it lets
            # go of its inputs; pop() above already dropped the order's hold on
            # it. Every node that used it was processed before it and let go of
            # it too, so the node is freed as soon as the loop moves on, and the
            # whole graph of a step is gone when backward returns. Without this,
            # the loss would keep its graph alive until the next step had built
            # a second one.
            #
            # The children become None, not (): () is what a leaf has, and a
            # later backward that met this node would take it for a leaf and
            # give wrong gradients. None makes it raise an error instead.
            node._children = None


def vsum(values):
    """v0 + v1 + ... + vn as one node (each local derivative is 1).

    Python's sum() on Values would build a chain of n additions, n nodes.
    The total is added left to right, exactly as that chain would round it,
    so the fusion changes the graph but not a single bit of the numbers.
    (Not with Python's sum() on floats: from 3.12 on it rounds more carefully
    than a chain of + would.)
    """
    values = tuple(values)
    total = 0.0
    for v in values:
        total += v.data
    return Value(total, values, (1.0,) * len(values))


def dot(a, b):
    """a[0]*b[0] + a[1]*b[1] + ... as one node that holds both vectors.

    Written with * and +, a dot product of length n would be 2n nodes and 4n
    edges to create, sort and walk back through. As one node it is a single
    object holding the two vectors it was given, and its local derivatives
    need no storing: d(a.b)/da_i is just b_i, which backward() reads from b.
    Linear layers are nothing but dot products, so this is where most of the
    model's arithmetic happens. (The products are plain floats, added with
    Python's sum(). The reference design this file reproduces adds them the
    same way, so the two agree to the last bit on every Python version, even
    though sum() rounds differently from 3.12 on.)
    """
    # tuple() of a tuple is that very tuple, so a vector passed to many dot
    # nodes keeps one identity; _dot_inputs uses it to search the vector once.
    a, b = tuple(a), tuple(b)
    if len(a) != len(b):
        raise ValueError(f'dot of vectors of different lengths ({len(a)} and {len(b)})')
    # _local_grads=None marks a dot node: backward() reads its derivatives from a and b.
    return Value(sum(x.data * y.data for x, y in zip(a, b)), (a, b), None)


# backward() needs the graph's nodes in an order where each comes after its
# inputs. topological_order, below, finds one with a depth-first search; the
# next two functions hand it the inputs of one node at a time.

def _inputs(node, searched):
    """node's inputs, last first, for topological_order (less any dot-node
    vector that has already been searched)."""
    if node._local_grads is not None:
        return reversed(node._children)
    return _dot_inputs(node, searched)


def _dot_inputs(node, searched):
    # A dot node's inputs are two whole vectors, and one vector often feeds
    # many dot nodes: the input of a linear layer meets every row of weights,
    # and a row of weights meets every position. Once a vector has been
    # searched all of it has been seen, so each vector is searched only once,
    # remembered by its identity. With the default settings this skips most
    # of the ~55,000 inputs of a training step.
    #
    # This is a generator so that a vector counts as searched only when the
    # search reaches it. The vectors are searched b first (last first, like
    # every node's inputs), so by the time a is reached the search below b is
    # over. Marking both vectors on entry would be wrong: a dot node found
    # below b that also uses a would skip a before a had been searched at all.
    for vector in reversed(node._children):
        key = id(vector)
        if key not in searched:
            searched.add(key)
            yield from reversed(vector)


def topological_order(root):
    """Every node that root depends on, each listed after all of its inputs.

    It is a depth-first search that lists a node once everything below it has
    been listed. Leaves (parameters, and anything else with no inputs) have
    no gradient to pass on, so they are left out. The search keeps its own
    stack instead of recursing, so a graph of any depth fits.

    Any order that puts nodes after their inputs gives correct gradients, but
    floating-point addition is not associative: the order in which a node's
    gradient contributions arrive decides its last bits. Inputs are searched
    from last to first because that is the order of the reference design this
    file is measured against, so training here matches it bit for bit.
    """
    order = []
    if root._children is None:
        raise RuntimeError('backward() already ran through this value and freed its graph')
    if not root._children:   # a leaf: nothing below it
        return order
    # Each search marks the nodes it reaches with a token of its own, so marks
    # left by an earlier search never need clearing. A set of seen nodes would
    # work too, but a mark is quicker to check and takes no extra memory.
    token = object()
    root._mark = token
    searched = set()   # ids of dot-node vectors already searched (see _dot_inputs)
    # node is the one being searched, inputs what is left of its inputs; the
    # stack holds the nodes waiting for a child's search to finish.
    stack = []
    node, inputs = root, _inputs(root, searched)
    while True:
        for child in inputs:
            if not child._children:
                if child._children is None:
                    raise RuntimeError('backward() already ran through part of this graph and freed it')
                continue   # a leaf
            if child._mark is not token:
                child._mark = token
                stack.append((node, inputs))   # come back to node's other inputs later
                node, inputs = child, _inputs(child, searched)
                break
        else:
            order.append(node)   # everything below node is listed
            if not stack:
                return order
            node, inputs = stack.pop()


# ---------------------------------------------------------------------------
# 4. Model
#
# A GPT reads one token at a time and outputs logits: one score per token of
# the vocabulary for what comes next. For each position:
#
#   x = wte[token] + wpe[position]     what the token is, and where it is
#   x = rmsnorm(x)
#   for each layer:
#       x = x + attention(rmsnorm(x))  look back at earlier positions
#       x = x + mlp(rmsnorm(x))        think about what was found
#   logits = lm_head x
#
# The embedding sum is normalized once before the first layer, and again
# before each attention and each MLP, so every part reads vectors of a steady
# size.
#
# Attention must be causal: the prediction at position t may not peek at the
# token at t+1, the very token it is trained to predict. Here that comes free.
# Attention keeps, per layer, the keys and values of every position seen so
# far; a position appends its own and then looks at the list, so it can only
# ever see itself and the past, and no mask is needed.
# ---------------------------------------------------------------------------

class Cache:
    """What the model keeps while it reads one document, position by position.

    keys[layer][head] and values[layer][head] gain one vector per position
    (see GPT.__call__).

    numbers[name] is a copy of a weight matrix's values as plain floats, for
    each matrix that linear() multiplies by (the embeddings wte and wpe are
    only looked up by row, so they need none). Weights only change between
    documents (in the optimizer's step), so one read per document can replace
    a read at every position. Multiplying two lists of floats runs in C;
    reading .data from thousands of Value objects is a Python step each, so
    the forward pass's dot products run about twice as fast this way.
    """

    def __init__(self, model):
        self.keys = [[[] for _ in range(model.n_head)] for _ in range(model.n_layer)]
        self.values = [[[] for _ in range(model.n_head)] for _ in range(model.n_layer)]
        self.numbers = {name: [[p.data for p in row] for row in matrix]
                        for name, matrix in model.state_dict.items()
                        if name not in ('wte', 'wpe')}


def linear(x, w, w_numbers):
    """The matrix-vector product w x: one dot node per row of w.

    w_numbers holds w's values as plain floats (see Cache). Every row meets
    the same x, so x's numbers are read once here, not once per row.
    """
    x = tuple(x)
    x_numbers = [xi.data for xi in x]
    # Each row gets the same node dot(row, x) would make, built here from the
    # floats already at hand instead of reading every .data again.
    return [Value(sum(map(operator.mul, row_numbers, x_numbers)), (row, x), None)
            for row, row_numbers in zip(w, w_numbers)]


def softmax(logits):
    """Scores to probabilities: p_i = exp(z_i - max z) / sum_j exp(z_j - max z).

    Subtracting the largest score changes nothing mathematically (it cancels
    between top and bottom) but keeps every exponent at most 0, so exp()
    cannot overflow however large the scores grow.
    """
    max_z = max(z.data for z in logits)   # a plain number: a constant shift
    exps = []
    for z in logits:
        # (z - c).exp() as one node: for a constant c the derivative of
        # e^(z - c) is e^(z - c) itself, so the subtraction needs no node.
        e = math.exp(z.data - max_z)
        exps.append(Value(e, (z,), (e,)))
    inv_total = vsum(exps) ** -1          # one reciprocal node, then multiplications
    return [e * inv_total for e in exps]


def rmsnorm(x):
    """Rescale x to a root-mean-square of 1: x_i / sqrt(mean(x^2) + 1e-5).

    It keeps the numbers entering each layer at a steady size, which makes
    training stable. The 1e-5 guards against dividing by zero.
    """
    # The sum of squares x_0^2 + x_1^2 + ... is one node. Its inputs are x
    # listed twice, x + x, with x's own numbers as their local derivatives:
    # x_i * x_i has x_i as both factors, and the derivative with respect to
    # each factor is the other one, x_i. Backward thus passes 2 x_i g to x_i
    # in two halves, just as separate product and sum nodes would.
    x = tuple(x)
    numbers = tuple(xi.data for xi in x)
    total = 0.0
    for n in numbers:   # left to right, as in vsum
        total += n * n
    mean_square = Value(total, x + x, numbers + numbers) / len(x)
    scale = (mean_square + 1e-5) ** -0.5
    return [xi * scale for xi in x]


class GPT:
    """The model's parameters and its forward pass for one position."""

    def __init__(self, config, vocab_size, rng):
        self.n_layer = config.n_layer
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.block_size = config.block_size
        self.vocab_size = vocab_size

        def matrix(rows, cols):
            # Rows are tuples: every dot node that uses a row then holds the
            # same object (see dot).
            return [tuple(Value(rng.gauss(0, config.init_std)) for _ in range(cols))
                    for _ in range(rows)]

        # The order of creation fixes which random numbers each matrix gets.
        n, v = config.n_embd, vocab_size
        self.state_dict = {
            'wte': matrix(v, n),                   # token embeddings: one row per token
            'wpe': matrix(config.block_size, n),   # position embeddings: one row per position
            'lm_head': matrix(v, n),               # final vector -> one logit per token
        }
        for i in range(config.n_layer):
            self.state_dict[f'layer{i}.wq'] = matrix(n, n)       # attention: queries
            self.state_dict[f'layer{i}.wk'] = matrix(n, n)       #            keys
            self.state_dict[f'layer{i}.wv'] = matrix(n, n)       #            values
            self.state_dict[f'layer{i}.wo'] = matrix(n, n)       #            output
            self.state_dict[f'layer{i}.fc1'] = matrix(4 * n, n)  # MLP: widen 4x
            self.state_dict[f'layer{i}.fc2'] = matrix(n, 4 * n)  #      and back
        self.params = [p for mat in self.state_dict.values() for row in mat for p in row]

    def new_cache(self):
        """An empty Cache, for reading a new document from its first position."""
        return Cache(self)

    def __call__(self, token_id, pos_id, cache):
        """Logits for the token after token_id, which sits at position pos_id.

        Positions must come in order, 0, 1, 2, ...: each call appends this
        position's keys and values to cache, where later positions find them.
        """
        sd, nums = self.state_dict, cache.numbers
        x = [t + p for t, p in zip(sd['wte'][token_id], sd['wpe'][pos_id])]
        x = rmsnorm(x)
        for i in range(self.n_layer):
            # Attention: each head compares this position's query with the key of
            # every position so far, turns the scores into weights with softmax,
            # and takes that weighted average of their values.
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, sd[f'layer{i}.wq'], nums[f'layer{i}.wq'])
            k = linear(x, sd[f'layer{i}.wk'], nums[f'layer{i}.wk'])
            v = linear(x, sd[f'layer{i}.wv'], nums[f'layer{i}.wv'])
            x_attn = []
            for h in range(self.n_head):
                head = slice(h * self.head_dim, (h + 1) * self.head_dim)
                keys, values = cache.keys[i][h], cache.values[i][h]
                # A key is a tuple because every later position dots with it
                # (see dot); values are only read column by column, below.
                keys.append(tuple(k[head]))
                values.append(v[head])
                q_h = tuple(q[head])   # tuples: one vector shared by many dots
                # Dividing by sqrt(head_dim) keeps the scores' spread independent
                # of the head size, so softmax starts out soft rather than peaked.
                scores = [dot(q_h, k_t) / self.head_dim ** 0.5 for k_t in keys]
                weights = tuple(softmax(scores))
                # zip(*rows) gives the columns: component j of every value so far.
                # The heads' outputs go end to end, n_embd numbers in all; wo
                # then mixes what the heads found.
                x_attn.extend(dot(weights, column) for column in zip(*values))
            x = linear(x_attn, sd[f'layer{i}.wo'], nums[f'layer{i}.wo'])
            # Residual connection: the block adds a correction to x instead of
            # replacing it. Addition passes the gradient back unchanged, so early
            # layers still get a strong signal, and a block that has learned
            # nothing yet (its weights small and random) only adds a little noise.
            x = [a + b for a, b in zip(x, x_residual)]
            # MLP: widen, ReLU, narrow back; applied to each position on its own.
            x_residual = x
            x = rmsnorm(x)
            x = linear(x, sd[f'layer{i}.fc1'], nums[f'layer{i}.fc1'])
            x = [xi.relu() for xi in x]
            x = linear(x, sd[f'layer{i}.fc2'], nums[f'layer{i}.fc2'])
            x = [a + b for a, b in zip(x, x_residual)]
        return linear(x, sd['lm_head'], nums['lm_head'])


# ---------------------------------------------------------------------------
# 5. Training
#
# The loss of a document is the cross-entropy of the model's predictions:
# at each position, -log(the probability it gave the token that came next),
# averaged over the positions. A perfect model would score 0; guessing
# uniformly among V tokens scores log(V): 3.3 for the names in input.txt,
# with 26 letters and BOS.
#
# Adam then moves every parameter against its gradient, with a step that it
# scales per parameter.
#
# The validation loss is the same cross-entropy on the held-out documents,
# with no training: if the training loss falls but the validation loss does
# not, the model is memorizing its documents instead of learning their rules.
# It is averaged over every predicted token of many documents, where a
# training loss is the mean over one document, so the two are close measures
# but not the same one.
# ---------------------------------------------------------------------------

def position_losses(model, tokens):
    """-log p(the next token) at each position of a document, as Values.

    A document longer than the context is cut to its first block_size positions.
    """
    cache = model.new_cache()
    losses = []
    for pos_id in range(min(model.block_size, len(tokens) - 1)):
        logits = model(tokens[pos_id], pos_id, cache)
        probs = softmax(logits)
        p = probs[tokens[pos_id + 1]]
        if p.data == 0.0:
            # exp() underflows to exactly 0 once a logit trails the largest by
            # about 745, which happens only when the weights are huge (blown
            # up by training, or drawn so by a huge --init-std); log(0) would
            # be minus infinity.
            raise FloatingPointError('the probability of the next token became 0')
        losses.append(-p.log())
    return losses


def document_loss(model, tokens):
    """Mean cross-entropy over a document's positions, as one graph."""
    losses = position_losses(model, tokens)
    return (1 / len(losses)) * vsum(losses)


def validation_loss(model, tokenizer, docs):
    """Mean loss per predicted token over docs; the model is not changed.

    Per token, not per document: a long name counts for more than a short
    one, as it holds more predictions.
    """
    total, count = 0.0, 0
    for doc in docs:
        # Cut to the context before encoding, as train() does. Only the numbers
        # are kept, so each document's graph is freed here, before the next
        # one is built, and two never take up memory at the same time.
        tokens = tokenizer.encode(doc[:model.block_size])
        losses = [loss.data for loss in position_losses(model, tokens)]
        total += sum(losses)
        count += len(losses)
    if not math.isfinite(total):
        raise FloatingPointError(f'the validation loss became {total / count}')
    return total / count


class Adam:
    """Adam: gradient descent with per-parameter step sizes.

        m = beta1 m + (1 - beta1) g        running mean of the gradient
        v = beta2 v + (1 - beta2) g^2      running mean of its square
        p -= lr * m_hat / (sqrt(v_hat) + eps)

    m and v start at 0, so for the first steps each is too small, by the
    factor (1 - beta^t) after t steps. The two biases do not cancel: v's is
    larger (beta2 is closer to 1), and sqrt(v) is what we divide by, so the
    first uncorrected steps would be too big (here the very first would be
    1.5 lr). Dividing each by its own factor, m_hat = m / (1 - beta1^t) and
    likewise v_hat, makes the very first step lr in size (eps aside), as the
    learning rate intends.
    """

    def __init__(self, params, beta1, beta2, eps):
        self.params = params
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [0.0] * len(params)
        self.v = [0.0] * len(params)
        self.t = 0

    def step(self, lr):
        """Update every parameter from its .grad, then zero the .grad for the next step."""
        self.t += 1
        beta1, beta2, eps = self.beta1, self.beta2, self.eps
        m, v = self.m, self.v
        bias1 = 1 - beta1 ** self.t
        bias2 = 1 - beta2 ** self.t
        one_minus_beta1 = 1 - beta1
        one_minus_beta2 = 1 - beta2
        for i, p in enumerate(self.params):
            g = p.grad
            m_i = m[i] = beta1 * m[i] + one_minus_beta1 * g
            v_i = v[i] = beta2 * v[i] + one_minus_beta2 * g * g
            p.data -= lr * (m_i / bias1) / ((v_i / bias2) ** 0.5 + eps)
            p.grad = 0.0


def train(model, tokenizer, docs, config):
    """Train on docs in order, one document per step, going round as needed.

    This is a generator: after each step it yields (step, loss), the step
    counted from 1 and the loss before that step's update. The caller can show
    progress as training goes, and can stop it between two steps by not asking
    for the next one (which is how Ctrl-C stops a run early, in section 7).
    """
    optimizer = Adam(model.params, config.beta1, config.beta2, config.eps)
    for step in range(config.steps):
        # The context holds block_size positions, which predict the first
        # block_size characters; only those are encoded, so a very long line
        # costs no more than a short one. (A document of block_size characters
        # or more never has its final BOS as a target: the model learns how it
        # starts, not how it ends.)
        doc = docs[step % len(docs)][:model.block_size]
        loss = document_loss(model, tokenizer.encode(doc))
        if not math.isfinite(loss.data):
            raise FloatingPointError(f'the loss became {loss.data} at step {step + 1}')
        loss.backward()
        # Learning-rate decay: shrink the step linearly toward zero, so that the
        # last updates fine-tune instead of jumping around.
        lr = config.learning_rate * (1 - step / config.steps)
        optimizer.step(lr)
        yield step + 1, loss.data


# ---------------------------------------------------------------------------
# 6. Sampling
#
# To write a new document, feed BOS, turn the logits into probabilities,
# draw the next token from them, feed it back in, and repeat until the model
# writes BOS (the end) or the context is full. Temperature divides the logits
# first: below 1 it widens the gaps between them, so likely tokens get
# likelier (safer, duller text); above 1 it evens them out (wilder text).
#
# A prefix makes every sample start the same way: its characters are fed in
# after BOS, one per position, as if the model had written them itself, and
# drawing begins after the last of them.
# ---------------------------------------------------------------------------

def sample(model, tokenizer, rng, temperature, prefix=''):
    """Write one new document, starting with prefix.

    The prefix may only use characters of the vocabulary, and must be shorter
    than block_size to leave the model room to write.

    No gradients are needed here, but the forward pass still builds its little
    graph: one forward pass for training and sampling keeps the code simple.
    Nothing calls backward on it; it is simply freed when the sample is done.
    """
    given = [tokenizer.ids[ch] for ch in prefix]
    cache = model.new_cache()
    token_id = tokenizer.bos
    out = []
    for pos_id in range(model.block_size):
        logits = model(token_id, pos_id, cache)
        if pos_id < len(given):
            # The token after this position is the prefix's, not a draw. (The
            # logits go unused; what matters is that reading token_id added its
            # keys and values to the cache, for later positions to look at.)
            token_id = given[pos_id]
        else:
            probs = softmax([z / temperature for z in logits])
            weights = [p.data for p in probs]
            if not math.isfinite(sum(weights)):
                # A temperature so small that z / temperature overflows to
                # infinity leaves softmax computing inf - inf: not a number.
                raise FloatingPointError('the sampling probabilities are not numbers')
            token_id = rng.choices(range(model.vocab_size), weights=weights)[0]
            if token_id == tokenizer.bos:
                break
        out.append(token_id)
    return tokenizer.decode(out)


# ---------------------------------------------------------------------------
# 7. Main
#
# The whole story in order: read the data, build the tokenizer and the model,
# measure the validation loss, train, measure it again, and sample. One random
# generator, seeded once, makes every draw in the same order each run: the
# shuffle, then the weights, then the samples. (Measuring the validation loss
# draws nothing, so it changes nothing else about the run.)
#
# While the model trains, a progress line shows the loss and the time left;
# at the end a loss curve sums up the run. Ctrl-C stops training early and
# goes on with the model trained so far; a second Ctrl-C quits.
# ---------------------------------------------------------------------------

# The command line sets the Config's knobs. (A small parser of our own rather
# than argparse, which would add about a megabyte to the memory this program
# needs on some Pythons.)
OPTIONS = [  # flag, its value, Config setting, type, what it does
    ('--steps', 'N', 'steps', int, 'training steps, one document each'),
    ('--seed', 'N', 'seed', int, 'seed for the shuffle, the weights and the samples'),
    ('--val-docs', 'N', 'val_docs', int, 'held-out documents to measure the validation loss on'),
    ('--temperature', 'T', 'temperature', float, 'sampling temperature, above 0'),
    ('--samples', 'K', 'num_samples', int, 'documents to write after training'),
    ('--prefix', 'TEXT', 'prefix', str, 'text every sample starts with'),
    ('--n-embd', 'N', 'n_embd', int, 'embedding size'),
    ('--n-head', 'N', 'n_head', int, 'attention heads; must divide --n-embd'),
    ('--n-layer', 'N', 'n_layer', int, 'transformer layers'),
    ('--block-size', 'N', 'block_size', int, 'context length, in tokens'),
    ('--lr', 'LR', 'learning_rate', float, "Adam's learning rate at the first step"),
    ('--beta1', 'B', 'beta1', float, "Adam's beta1, in [0, 1)"),
    ('--beta2', 'B', 'beta2', float, "Adam's beta2, in [0, 1)"),
    ('--eps', 'E', 'eps', float, "Adam's epsilon, above 0"),
    ('--init-std', 'S', 'init_std', float, 'standard deviation of the initial weights'),
]


def usage():
    """The --help text: every option, with its default."""
    lines = [
        'usage: python microgpt.py [--input PATH] [--steps N] [other options]',
        '',
        'Train a tiny GPT on a text file (one document per line), then sample',
        'new documents from it. Ctrl-C during training stops it early and goes on',
        'to sampling; a second Ctrl-C, or one at any other time, quits.',
        '',
        'options:',
        '  --input PATH       training data, one document per line',
        '                     (default: input.txt beside this script)',
    ]
    for flag, value, name, kind, text in OPTIONS:
        default = getattr(Config, name)
        if default == '':
            default = 'none'
        lines.append(f'  {flag + " " + value:18s} {text} (default: {default})')
    return '\n'.join(lines)


def parse_args(argv):
    """Read the command line into (Config, input path), or None if it asks for help.

    Raise InputError if it is wrong.
    """
    known = {flag: (name, kind) for flag, _, name, kind, _ in OPTIONS}
    settings, path = {}, None
    args = list(argv)
    while args:
        arg = args.pop(0)
        # Help is asked for by -h in an option's place, but not by a value that
        # happens to be '-h' (in --prefix -h, the -h is popped below as the value).
        if arg in ('-h', '--help'):
            return None
        flag, equals, value = arg.partition('=')   # both --steps 5 and --steps=5
        if flag != '--input' and flag not in known:
            raise InputError(f'unknown option {arg!r} (see --help)')
        if not equals:
            if not args:
                raise InputError(f'{flag} needs a value')
            value = args.pop(0)
        if flag == '--input':
            if not value:
                raise InputError('--input needs a path')
            path = value
            continue
        name, kind = known[flag]
        try:
            settings[name] = kind(value)
        except ValueError:
            wanted = 'a whole number' if kind is int else 'a number'
            raise InputError(f'{flag} needs {wanted} (got {value!r})') from None
    c = Config(**settings)
    problems = [
        (c.steps < 1, f'--steps must be at least 1 (got {c.steps})'),
        (c.val_docs < 0, f'--val-docs must be 0 or more (got {c.val_docs})'),
        (c.num_samples < 0, f'--samples must be 0 or more (got {c.num_samples})'),
        (not (math.isfinite(c.temperature) and c.temperature > 0),
         f'--temperature must be a number above 0 (got {c.temperature})'),
        # Sampling divides by the temperature: it must not turn numbers infinite.
        (c.temperature > 0 and not math.isfinite(1 / c.temperature),
         f'--temperature {c.temperature} is too small: dividing by it overflows'),
        (c.n_embd < 1, f'--n-embd must be at least 1 (got {c.n_embd})'),
        (c.n_head < 1, f'--n-head must be at least 1 (got {c.n_head})'),
        (c.n_layer < 1, f'--n-layer must be at least 1 (got {c.n_layer})'),
        (c.block_size < 1, f'--block-size must be at least 1 (got {c.block_size})'),
        (c.n_head >= 1 and c.n_embd % c.n_head != 0,
         f'--n-embd ({c.n_embd}) must be divisible by --n-head ({c.n_head})'),
        (not (math.isfinite(c.learning_rate) and c.learning_rate > 0),
         f'--lr must be a number above 0 (got {c.learning_rate})'),
        (not 0 <= c.beta1 < 1, f'--beta1 must be in [0, 1) (got {c.beta1})'),
        (not 0 <= c.beta2 < 1, f'--beta2 must be in [0, 1) (got {c.beta2})'),
        (not (math.isfinite(c.eps) and c.eps > 0), f'--eps must be a number above 0 (got {c.eps})'),
        (not (math.isfinite(c.init_std) and c.init_std >= 0),
         f'--init-std must be a number, 0 or more (got {c.init_std})'),
        # (Whether the prefix's characters have tokens depends on the data: run() checks.)
        (len(c.prefix) >= c.block_size,
         f'--prefix {c.prefix!r} is {len(c.prefix)} characters long, but the context '
         f'(--block-size {c.block_size}) leaves room for at most {c.block_size - 1}'),
    ]
    for bad, message in problems:
        if bad:
            raise InputError(message)
    return c, path


def progress_line(step, steps, loss, seconds):
    """One line of progress, seconds being the time the steps so far took."""
    seconds_left = round((steps - step) * seconds / step)
    clock = f'{seconds_left // 60}:{seconds_left % 60:02d}'   # minutes:seconds
    return (f'step {step:{len(str(steps))}d} / {steps} | loss {loss:.4f} | '
            f'{1000 * seconds / step:.1f} ms/step | {clock} left')


def plural(n, noun):
    """'1 step', '2 steps', '1,000 steps'."""
    return f'{n:,} {noun}' if n == 1 else f'{n:,} {noun}s'


def train_with_progress(model, tokenizer, docs, config):
    """Run train() and show its progress; return the losses of the steps that ran.

    On a terminal, one line is rewritten in place after every step. Into a
    file or a pipe, where rewriting does not work, a line is written at each
    step that completes a twentieth of the run (the last step always does).

    The first Ctrl-C stops training after the step it arrives in; the second
    quits the program.
    """
    steps = config.steps
    live = sys.stdout.isatty()
    stop_requested = False

    def on_ctrl_c(signum, frame):
        # Python runs this between two bytecodes, wherever training happens to
        # be: in the middle of backward, say. Stopping there would leave a step
        # half done, so the first Ctrl-C only asks the loop below to stop after
        # the step. The second raises KeyboardInterrupt, which main() turns
        # into a quiet exit. (Once training is over the usual handler is back,
        # and any Ctrl-C quits at once.)
        nonlocal stop_requested
        if stop_requested:
            raise KeyboardInterrupt
        stop_requested = True

    losses = []
    shown = 0   # the length of the line on screen, to overwrite all of it
    previous_handler = signal.signal(signal.SIGINT, on_ctrl_c)
    start = time.perf_counter()
    try:
        for step, loss in train(model, tokenizer, docs, config):
            losses.append(loss)
            line = progress_line(step, steps, loss, time.perf_counter() - start)
            completes_twentieth = step * 20 // steps > (step - 1) * 20 // steps
            if live:
                print('\r' + line.ljust(shown), end='', flush=True)
                shown = len(line)
            elif completes_twentieth or stop_requested:
                print(line, flush=True)
            if stop_requested:
                break
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        if shown:
            print()   # end the rewritten line, so what follows starts on its own
    seconds = time.perf_counter() - start
    if len(losses) < steps:
        print(f'stopped by Ctrl-C after step {len(losses)} of {steps}; '
              f'going on with the model trained so far')
    print(f'trained {len(model.params):,} parameters for {plural(len(losses), "step")} in '
          f'{seconds:.1f} s ({1000 * seconds / len(losses):.1f} ms per step)')
    return losses


BARS = '▁▂▃▄▅▆▇█'


def loss_curve(losses, width=50):
    """Two lines: what the curve shows, then the loss over the run as bars.

    One document's loss jumps around (a long, rare name is harder than
    "anna"), so each bar is smoothed: it is the mean loss of the tenth of the
    run that ends at its step (near the start, of the steps so far). The
    lowest mean gets the shortest bar, the highest the tallest, and the first
    and the last mean stand beside the bars.
    """
    n = len(losses)
    width = min(width, n)
    window = max(1, n // 10)
    means = []
    for i in range(1, width + 1):
        end = i * n // width   # this bar stands for the run up to step `end`
        part = losses[max(0, end - window):end]
        means.append(sum(part) / len(part))
    low, high = min(means), max(means)
    # Differences too small to show in the two decimals printed beside the
    # bars are rounding noise (a model that is not learning at all still has
    # some): such a curve is drawn flat rather than stretched to full height.
    flat = high - low < 0.01
    bars = ''
    for mean in means:
        level = 0 if flat else round((len(BARS) - 1) * (mean - low) / (high - low))
        bars += BARS[level]
    if window == 1:
        caption = f'loss curve, {plural(n, "step")} (a bar per step)'
    else:
        caption = (f'loss curve, {plural(n, "step")} '
                   f'(each bar: the mean loss of the last {window} steps)')
    return f'{caption}\n{means[0]:.2f} {bars} {means[-1]:.2f}'


def print_validation_loss(model, tokenizer, val_docs, when):
    """Print the validation loss, saying when ('before training', say) it was measured.

    With no validation documents there is nothing to print; run() has said why.
    """
    if val_docs:
        loss = validation_loss(model, tokenizer, val_docs)
        print(f'val loss {loss:.4f} ({when}; per token, on '
              f'{plural(len(val_docs), "held-out document")})', flush=True)


def print_samples(model, tokenizer, rng, config, train_text):
    """Write config.num_samples documents, each marked new or in the training data.

    train_text holds every training document on a line of its own, with a
    newline before the first as well as after the last.
    """
    if not config.num_samples:
        return
    with_prefix = f', prefix {config.prefix!r}' if config.prefix else ''
    print(f'--- {plural(config.num_samples, "sample")} '
          f'(temperature {config.temperature}{with_prefix}) ---')
    # A sample is "in the training data" if it is one of the training documents,
    # whether or not this run got as far as training on it, and "new" if it is
    # not. (A name found only among the held-out documents is new: the model
    # was never shown it.) With a newline on both sides, the sample can only
    # match a whole line, never part of a longer document.
    #
    # A sample as long as the context was cut off there: the model never ended
    # it. Training showed the model only the first block_size characters of a
    # long document too, so such a sample counts as seen if a training
    # document starts with it.
    new = 0
    for i in range(config.num_samples):
        text = sample(model, tokenizer, rng, config.temperature, config.prefix)
        if len(text) == model.block_size:
            seen = f'\n{text}' in train_text
        else:
            seen = f'\n{text}\n' in train_text
        if seen:
            tag = 'in the training data'
        else:
            tag = 'new'
            new += 1
        print(f'sample {i + 1:2d}: {text}  ({tag})')
    print(f'new, not in the training data: {new} of {plural(config.num_samples, "sample")}')


def run(config, path):
    """Sections 1 to 6 in order, printing as they go."""
    rng = random.Random(config.seed)
    docs = load_docs(path)
    rng.shuffle(docs)
    tokenizer = Tokenizer(docs)   # every character needs a token, held out or not
    unknown = sorted(set(config.prefix) - set(tokenizer.chars))
    if unknown:
        raise InputError(f'--prefix {config.prefix!r} uses characters that never occur in '
                         f'{path}, so the model has no token for them: '
                         + ', '.join(map(repr, unknown)))
    train_docs, held_out = split_docs(docs)
    val_docs = held_out[:config.val_docs]
    print(f'{plural(len(docs), "document")}: {len(train_docs):,} to train on, '
          f'{len(held_out):,} held out for validation')
    if not held_out:
        print('no validation loss: with fewer than 10 documents, none are held out')
    elif not val_docs:
        print('no validation loss (--val-docs 0)')

    # A run of N steps trains on the first N training documents only, but every
    # sample is checked against all of them (print_samples). Joined into one
    # string, a line each, they take about a tenth of the memory of a list of
    # as many small strings. The training documents past the first N and the
    # held-out ones past val_docs are let go before the model is built, so its
    # weights and graphs can reuse that memory.
    train_text = '\n' + '\n'.join(train_docs) + '\n'
    del train_docs[config.steps:]
    del docs, held_out

    model = GPT(config, tokenizer.vocab_size, rng)
    characters = plural(len(tokenizer.chars), 'character')
    print(f'{tokenizer.vocab_size} tokens ({characters} + BOS), '
          f'{len(model.params):,} parameters')

    # Every node of the graph is freed by reference counting the moment backward
    # lets go of it (there are no reference cycles), so Python's cycle collector
    # would only spend time scanning the millions of nodes a run creates.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        print_validation_loss(model, tokenizer, val_docs, 'before training')
        losses = train_with_progress(model, tokenizer, train_docs, config)
        print(loss_curve(losses))
        print_validation_loss(model, tokenizer, val_docs, 'after training')
        print_samples(model, tokenizer, rng, config, train_text)
    except (FloatingPointError, OverflowError) as e:
        # Settings can be valid one by one and still make the numbers blow up:
        # a huge learning rate, say, makes the loss infinite, or a probability
        # exactly 0; a tiny temperature, sampling probabilities that are not
        # numbers. Training and sampling check for these and raise
        # FloatingPointError; a float too large for ** raises OverflowError.
        if isinstance(e, OverflowError):
            e = 'a number grew too large for a float'
        raise InputError(f'the numbers blew up ({e}); try a smaller --lr or '
                         f'--init-std, or a larger --temperature') from None
    finally:
        if gc_was_on:
            gc.enable()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if hasattr(sys.stdout, 'reconfigure'):
        # A terminal that cannot show some character (a name in another script)
        # gets a '?' instead of a crash.
        sys.stdout.reconfigure(errors='replace')
    try:
        parsed = parse_args(argv)
        if parsed is None:
            print(usage())
            return 0
        config, path = parsed
        if path is None:
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'input.txt')
        run(config, path)
    except InputError as e:
        print(f'microgpt.py: error: {e}', file=sys.stderr)
        return 2
    except MemoryError:
        print('microgpt.py: error: out of memory; try a smaller model (--n-embd, '
              '--n-layer, --block-size)', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('\ninterrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read our output stopped (as `| head` does): stop quietly, and
        # point stdout at nothing so that Python's final flush finds no pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
