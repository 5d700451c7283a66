"""microgpt: a whole GPT, trained and sampled, in one file of plain Python.

    python microgpt.py            train on the input.txt beside this file, then
                                  write 20 names like its own
    python microgpt.py --help     every knob

Read it from top to bottom. Part 1 is the algorithm, each section building on
the ones before it:

    1. Settings     every hyperparameter, in one place
    2. Dataset      one document per line of a text file
    3. Tokenizer    characters to integers, and one token, BOS, for both ends
    4. Autograd     a number that remembers how it was computed
    5. Model        the GPT: embeddings, attention, MLP, RMSNorm
    6. Training     the loss, the Adam optimizer, the training loop
    7. Sampling     the model writes, one character at a time

Stop after part 1 and you have read the whole algorithm. Part 2 is the program
around it: reading the input, the command line, what a run prints, sampling
with --top-k and --top-p, saving and loading a model, and --explain. A
learner may skip it.

Only the standard library is used. Importing this file trains, prints and
reads nothing.
"""

import math
import sys
from operator import mul


# ----------------------------------------------------------------------------
# Part 1: the algorithm
# ============================================================================

# ----------------------------------------------------------------------------
# Section 1: Settings
# ----------------------------------------------------------------------------
#
# Every knob of a run, under the names the literature gives them. The command
# line (part 2) can change each one; Config(n_embd=8) changes one in code.

class Config:
    """The hyperparameters of one run."""

    # the model
    n_layer = 1           # transformer blocks, one on top of the other
    n_embd = 16           # width of the vector that stands for a token at its position
    n_head = 4            # attention heads; each reads head_dim = n_embd // n_head numbers
    block_size = 16       # context length: the most positions the model ever sees
    init_std = 0.08       # weights start as Gaussian noise of this standard deviation

    # training
    steps = 1000          # optimizer steps
    batch_size = 1        # documents per step; their losses are averaged
    learning_rate = 0.01  # Adam's step size at the start, decayed linearly toward 0
    beta1 = 0.85          # how slowly Adam's running mean of the gradient forgets
    beta2 = 0.99          # how slowly its running mean of the squared gradient forgets
    eps = 1e-8            # keeps Adam from dividing by 0 for a weight whose gradient was always 0

    # sampling
    temperature = 0.5     # below 1 the model plays safe, above 1 it takes risks
    num_samples = 20      # how many new documents to write after training

    seed = 42             # one seed fixes everything random: shuffle, weights, samples

    def __init__(self, **overrides):
        for name, value in overrides.items():
            if name.startswith('_') or name not in vars(Config):
                raise TypeError(f'Config has no setting {name!r}')
            setattr(self, name, value)


# ----------------------------------------------------------------------------
# Section 2: Dataset
# ----------------------------------------------------------------------------
#
# A document is one line of text: a name, a word, a city. The model learns
# what documents look like, then writes new ones. Each line is stripped of
# the whitespace around it, and blank lines are skipped.
#
# The run shuffles the documents (with its random generator; see the end of
# section 7) and holds out the last tenth, rounded down. The model never
# trains on those, so its loss on them, the validation loss of section 6,
# says how well it does on documents it has never seen.

def read_docs(text):
    """The documents of a text: its lines, stripped, blank ones left out."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_docs(docs):
    """(training documents, held-out documents): the last tenth, rounded down,
    is held out, so fewer than ten documents are all kept for training.
    """
    n_train = len(docs) - len(docs) // 10
    return docs[:n_train], docs[n_train:]


# ----------------------------------------------------------------------------
# Section 3: Tokenizer
# ----------------------------------------------------------------------------
#
# The model reads and writes integers, so each character of the data gets an
# id: 0, 1, 2, ... in sorted order. One more id, BOS (beginning of sequence),
# stands at both ends of every document:
#
#     "emma"  ->  [BOS, e, m, m, a, BOS]
#
# The first BOS is what the model reads to guess the first letter; the last
# one is what it must guess once the document is over. One token can do both
# jobs because they never clash: as an input BOS means "start", as a guess it
# means "stop". Sampling (section 7) starts from BOS and stops at the next
# (or when the context is full).

class Tokenizer:
    """Characters to integer ids and back."""

    def __init__(self, docs):
        # The run passes every document, held out or not, so that validation
        # never meets a character without a token.
        self.chars = sorted(set(''.join(docs)))
        self.ids = {ch: i for i, ch in enumerate(self.chars)}
        self.bos = len(self.chars)            # the id after the last character's
        self.vocab_size = len(self.chars) + 1

    def encode(self, doc):
        return [self.bos] + [self.ids[ch] for ch in doc] + [self.bos]

    def decode(self, ids):
        """The text of character ids (BOS is not one: it has no character)."""
        return ''.join(self.chars[i] for i in ids)


# ----------------------------------------------------------------------------
# Section 4: Autograd
# ----------------------------------------------------------------------------
#
# Training needs the gradient of the loss with respect to every parameter:
# how much the loss would change if that one number were nudged. A Value is a
# number that remembers how it was made: the Values it was computed from (its
# children) and the local derivative of the operation with respect to each.
# backward() then applies the chain rule, from the loss down to the leaves
# (the Values made from no others: the parameters, say):
#
#     child.grad += local_derivative * node.grad
#
# summed over every node that used the child. A node may pass its gradient
# on only once every node that used it has added its share, so backward()
# first puts the nodes in that order (a topological order, found by a
# depth-first search) and then walks it. As a sketch, a plain engine's
# backward, without the speed-ups below, is:
#
#     order, visited = [], set()
#     def visit(node):                   # children first, then the node
#         if node not in visited:
#             visited.add(node)
#             for child in node._children:
#                 visit(child)
#             order.append(node)
#     visit(loss)
#     loss.grad = 1
#     for node in reversed(order):       # the loss first; a node after all its users
#         for child, d in zip(node._children, node._local_grads):
#             child.grad += d * node.grad
#
# For example, take a = Value(2.0), b = Value(3.0) and c = a * b + a. Above
# the leaves a and b that is two nodes: a * b, with children a and b and
# local derivatives 3.0 and 2.0, and the +, with children a * b and a and
# local derivatives 1 and 1.
# c.backward() gives b.grad = 2.0 * 1 = 2.0 and a.grad = 3.0 * 1 + 1 = 4.0:
# a was used twice, and its two shares add up (dc/da = b + 1).
#
# The engine below is the sketch plus speed-ups that let a GPT train in pure
# Python. None changes the math: built the plain way, the gradients come out
# the same but for rounding in the last bits, only slower and with more
# memory. Each is explained where it lives, in a comment that starts
# "Speed-up", and a first read may skip them all. This is what each one in
# this section replaces, so the plain form is easy to rebuild (section 5
# lists its own):
#
#     speed-up (where)                    the plain form
#     dot nodes (Value, dot)              a.b as a chain of * and + nodes,
#                                           about 2n of them
#     searching once (_visit)             none: with no dot nodes, no
#                                           vectors are shared
#     marks (_visit)                      the sketch's visited set
#     pruning (backward)                  none: the graph lives until the
#                                           next step has built its own
#     vsum                                a chain of + nodes
#     exp with a shift (Value.exp)        z + -c, then exp: two nodes
#     __slots__ (Value)                   a plain class
#
# The plain form needs one more operation, relu(a) = max(0, a), whose
# derivative is 1 for a > 0 and 0 otherwise.
#
# One rule is for exactness: float addition is not associative ((a + b) + c
# and a + (b + c) can differ in the last bit), so each sum here is always
# done the same way, on Values and on floats alike: the products of dot()
# and linear() by sum(), every other sum (rmsnorm's squares among them) by
# vsum, left to right. Then the float path of section 5 gives the graph's
# numbers to the last bit.

class Value:
    """A number in the computation graph.

    Speed-up, the dot node: a.b written with * and + is about 2n nodes; a dot
    node is one. Its two children are the vectors a and b themselves (tuples
    of Values), and its _local_grads is None, since d(a.b)/da_i is just b_i
    and d(a.b)/db_i is a_i. Linear layers are all dot products, so this
    saves most of the nodes a step would make, search and walk back through.
    dot(), after the class, makes one (linear() and rmsnorm(), in section 5,
    make their own); the search and backward() each have a branch for them.
    """

    # __slots__ keeps each of the millions of Values a run makes small.
    __slots__ = ('data', 'grad', '_children', '_local_grads', '_mark')

    def __init__(self, data, children=(), local_grads=()):
        self.data = data                  # the number itself
        self.grad = 0.0                   # d(loss)/d(this), filled in by backward()
        self._children = children         # the Values this one was computed from
                                          # (a dot node: its two vectors)
        self._local_grads = local_grads   # d(this)/d(child), one per child (a dot node: None)
        self._mark = None                 # for the search (_visit), below

    # Each operation: its value, then its local derivatives. A plain number is
    # a constant: the node keeps no child for it, as nothing needs its
    # gradient. Only what the model uses is here: Value + Value, Value *
    # Value, -Value, and a Value +, *, / or ** a number. Other arithmetic (a
    # number + or * a Value, Value - Value, Value / Value) raises TypeError,
    # and so does sum() of Values, which starts from 0 + the first; vsum,
    # below, adds Values. Then exp and log: exp takes a shift c and gives
    # e^(a-c) as one node, as softmax (section 5) needs e^(z - max z).

    def __add__(self, other):             # d(a+b)/da = 1, d(a+b)/db = 1
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1.0, 1.0))
        return Value(self.data + other, (self,), (1.0,))

    def __mul__(self, other):             # d(ab)/da = b, d(ab)/db = a
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        return Value(self.data * other, (self,), (other,))

    def __truediv__(self, c):             # c a number: d(a/c)/da = 1/c
        return Value(self.data / c, (self,), (1 / c,))

    def __pow__(self, k):                 # k a number: d(a^k)/da = k a^(k-1)
        return Value(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def __neg__(self):                    # d(-a)/da = -1
        return self * -1

    def exp(self, shift):                 # e^(a-c), c a number: d(e^(a-c))/da = e^(a-c)
        e = math.exp(self.data - shift)
        return Value(e, (self,), (e,))

    def log(self):                        # d(ln a)/da = 1/a
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def _topological_order(self):
        """self and the nodes below it that are not leaves, each after its children.

        A depth-first search: _visit() first visits each child not yet
        visited, and only then lists the node. So children come before the
        nodes that used them, and backward() walks the list from the end.
        Leaves (the parameters, say) have nothing to pass on and are left out,
        so a leaf's own list is empty.
        Children are visited last first. Any order gives the right gradients,
        but it fixes the order in which a shared child's shares are added up,
        and so the last bits; this is the one fixed here.
        """
        if self._children is None:
            raise RuntimeError('backward() has already run through this graph and freed it')
        # The search goes two Python calls deeper per level of the graph: the
        # GPT is shallow, but a chain of about 500 additions would pass
        # Python's default limit of 1000 nested calls. (The limit is the
        # whole process's.)
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        order = []
        # Each search marks the nodes it visits with a new object, its own
        # mark, so old marks never need clearing. Leaves need no mark: they
        # are never listed.
        if self._children:                       # (a leaf has nothing below it)
            self._visit(object(), set(), order)
        return order

    def _visit(self, mark, searched, order):
        """The search from this node: each child not yet visited, then the node.

        Speed-up, searching once: a vector is often shared by many dot nodes
        (a row of weights by every position, a layer's input by every row), so
        the search goes through each tuple once, noting its id in searched.
        Skipping it later is safe: all below it has been listed by then, as
        the graph has no cycles. A vector is noted as the search enters it, not
        before: if a's Values also sit below b, the search must go through
        them there, or a node below b that uses them would be listed before
        them. (A mark on each node stands in for the sketch's visited set: it
        is quicker to check.)
        """
        self._mark = mark
        if self._local_grads is None:            # a dot node: vector b, then a
            a, b = self._children
            if id(b) not in searched:
                searched.add(id(b))
                Value._visit_all(b, mark, searched, order)
            if id(a) not in searched:            # (a may be b: x.x, in rmsnorm)
                searched.add(id(a))
                Value._visit_all(a, mark, searched, order)
        else:
            Value._visit_all(self._children, mark, searched, order)
        order.append(self)

    @staticmethod
    def _visit_all(nodes, mark, searched, order):
        """_visit() each of nodes (children, or a dot node's vector), last first,
        that is not a leaf or visited already."""
        for child in reversed(nodes):
            if child._children:                  # not a leaf, whose children are ()
                if child._mark is not mark:
                    child._visit(mark, searched, order)
            elif child._children is None:        # freed by pruning
                raise RuntimeError('backward() has already run through part of this graph')

    def backward(self):
        """Set self.grad to 1, and add d(self)/d(v) into v.grad for every Value v below self.

        The sketch's loop, with a branch for dot nodes, plus one speed-up.

        Speed-up, pruning: once a node has passed its gradient on, it drops
        its children. Everything that used it has done so already, so nothing
        holds it any more (but self and whatever the caller keeps, such as
        each document's loss until the next step) and it is freed at once, by
        reference counting (on PyPy, by its collector soon after): a step's
        graph is freed as backward runs, instead of living on until the next
        step has built a second one. (So a graph can be walked back only once;
        the search says so if asked again.)
        """
        order = self._topological_order()
        self.grad = 1.0
        while order:
            node = order.pop()            # every node that used it is done
            g = node.grad
            if node._local_grads is None:   # a dot node: its children are a and b
                a, b = node._children
                for ai, bi in zip(a, b):
                    ai.grad += bi.data * g    # d(a.b)/da_i = b_i
                    bi.grad += ai.data * g    # d(a.b)/db_i = a_i
            else:
                for child, local_grad in zip(node._children, node._local_grads):
                    child.grad += local_grad * g
            node._children = None         # pruning


def dot(a, b):
    """The dot product of two vectors: one dot node for Values, a float for floats.

    The products are added with sum() (on Values, of a generator that reads
    each .data in Python; linear() multiplies float lists in C instead; only
    rmsnorm's x.x adds its squares with vsum). From Python 3.12 on, sum() of
    floats rounds more carefully than adding left to right, so a run's last
    bits differ between 3.11 and 3.12.
    """
    if isinstance(a[0], Value):
        # The node keeps tuples, as a list could change later. (tuple() of a
        # tuple is that same tuple, so a vector shared as a tuple stays one
        # object.)
        a, b = tuple(a), tuple(b)
        return Value(sum(ai.data * bi.data for ai, bi in zip(a, b)), (a, b), None)
    return sum(map(mul, a, b))                   # plain floats


def vsum(values):
    """values[0] + values[1] + ..., added left to right: a float for floats
    (0.0 for no values), and for Values one node, each local derivative 1.

    A chain of + nodes, values[0] + values[1] + ..., would add in the same
    order, so the one node saves nodes without changing a bit (but for the
    sign of a sum of -0.0s: 0.0 + -0.0 is +0.0).
    """
    values = tuple(values)
    if values and isinstance(values[0], Value):
        total = vsum([v.data for v in values])   # the float sum, below
        return Value(total, values, (1.0,) * len(values))
    total = 0.0                                  # plain floats
    for v in values:
        total += v
    return total


# ----------------------------------------------------------------------------
# Section 5: Model
# ----------------------------------------------------------------------------
#
# The model reads a document one token at a time. At each position it sees
# that token and the ones before it, and outputs logits: one score per token
# of the vocabulary for what comes next. In math, for one position:
#
#     x = rmsnorm(wte[token] + wpe[position])   what the token is, and where
#     for each layer:
#         x = x + attention(rmsnorm(x))         look back at earlier positions
#         x = x + mlp(rmsnorm(x))               work on what was found there
#     logits = lm_head x
#
#     attention(x):  q, k, v = wq x, wk x, wv x
#         for each head h, on its slice of head_dim numbers of q, k and v:
#             weight_t = softmax over t of (q . k_t / sqrt(head_dim))
#             out_h    = sum over t of weight_t v_t   (t: this position and all before it)
#         return wo (out_0, out_1, ...)             the heads end to end, mixed by wo
#     mlp(x):  fc2 relu(fc1 x)
#
# The MLP (multilayer perceptron) is two linear layers with a ReLU,
# max(0, x), between them.
#
# wte and wpe are the token and position embeddings (a row of n_embd numbers
# per token and per position), lm_head turns the last x into one logit per
# token, and every other w is a square matrix but fc1 and fc2, which widen
# to 4 n_embd and back. The x carried from block to block is the residual
# stream. With the default settings and the 26 letters (27 tokens with BOS):
#
#     wte, lm_head   27 x 16        wpe            16 x 16 (block_size rows)
#     wq, wk, wv, wo 16 x 16        fc1, fc2       64 x 16 and 16 x 64
#     4 heads of head_dim 4: each reads 4 of q's, k's and v's 16 numbers
#
# 4,192 weights in all.
#
# The query q says what this position is looking for, a key k_t what position
# t offers, and the value v_t what it hands over if chosen: attention is a
# lookup by similarity. Each head does its own lookup on its own slice of the
# numbers, so one can follow, say, the previous letter and another the first.
#
# The keys and values of every position read so far are kept, per layer and
# head, in growing lists. A position appends its own and then attends over
# the lists, so it can only ever see itself and the past: the model cannot
# peek at the token it is trained to predict, and no mask is needed. (A GPT
# like GPT-2 trains every position of a text at once instead, and hides the
# future behind a mask; the numbers come out the same, but to be fast that
# needs tensors.)
#
# Other choices, and why:
# - x + block(x): each block adds a correction to x instead of replacing it.
#   The + passes the gradient back unchanged, so every layer learns from
#   the start, and a block that has learned nothing yet adds only a little.
# - rmsnorm before the first layer and before each attention and each MLP:
#   the embeddings and the residual stream are sums that can drift in size;
#   each reads its input at a root-mean-square of about 1, which keeps
#   training stable.
# - Unlike GPT-2: RMSNorm instead of LayerNorm (no mean to subtract), and with
#   no gain to learn either; no biases; ReLU instead of GELU (a smoothed ReLU);
#   lm_head its own matrix rather than wte reused; no norm between the last
#   block and lm_head, and one more rmsnorm right after the embeddings. Each is
#   simpler; at this size the model trains well without what they leave out.
#   (In the first block that means rmsnorm twice in a row; the second changes
#   almost nothing, since its input already has a root-mean-square of about 1.)
# - The MLP widens to 4 n_embd, as in the original transformer, to give each
#   position room to compute before narrowing back to the stream.
# - The weights start as small noise (std 0.08): small, so the first logits
#   are near 0 and the first guesses near uniform; random, so that no two
#   units start the same and learn the same thing.
#
# The same code runs two ways. Training needs gradients, so it feeds the model
# Values and every operation is recorded in the graph. Validation and sampling
# need only the numbers: fed plain floats, the very same functions do the
# same float operations in the same order, so they give the same numbers
# bit for bit, with no graph at all, in a fifth to a quarter of the time a
# training position takes (forward and backward).
# Each helper below that must know checks which kind of number it was
# given: the branch for Values comes first, the one marked "plain floats"
# after it. (GPT, whose input is a token id either way, asks its cache.)
#
# The speed-ups of this section, each marked "Speed-up" where it lives, and
# what each replaces in the plain form:
#
#     speed-up (where)                    the plain form
#     float copy of the weights (Matrix)  .data read from each weight
#     linear's and rmsnorm's dot nodes    dot() of Values, or * and + nodes
#     plain floats (every helper)         Values for validation and sampling
#                                           too, their graph left unused
#     mlp's units that are off            a relu node for each unit, and all
#                                           of fc2
#     softmax's only=                     every probability, then the one

class Matrix(list):
    """A weight matrix: a list of rows, each a tuple of Values (the parameters).

    Speed-up: .numbers holds the same weights as floats, so that linear()
    can multiply them in C instead of reading .data from each Value (its
    forward gets up to twice as fast; backward, untouched, is most of a step).
    The copy is taken when the matrix is made and again by GPT.new_cache at
    the start of every document: weights change only between steps.
    """
    __slots__ = ('numbers',)

    def __init__(self, rows, numbers=None):
        super().__init__(rows)
        self.numbers = numbers
        if numbers is None:
            self.refresh()

    def refresh(self):
        self.numbers = [[p.data for p in row] for row in self]

    def columns(self, on):
        """The matrix cut down to the columns numbered in on, float copy and all."""
        return Matrix([tuple([row[j] for j in on]) for row in self],
                      [[row[j] for j in on] for row in self.numbers])


def linear(x, w):
    """The matrix-vector product w x: the dot product of x with each row of w."""
    if isinstance(x[0], Value):
        # Each row's dot node: its vectors are the row and x (None: no local
        # derivatives to keep). x becomes one tuple, which every row's node
        # then shares, so that backward's search goes through it once.
        # Speed-up: the nodes are made here, not by dot(), so that their
        # values come from the float copy (w.numbers, as copied at the start
        # of the document), where dot() would read .data from every Value.
        x = tuple(x)
        x_numbers = [xi.data for xi in x]
        return [Value(sum(map(mul, row_numbers, x_numbers)), (row, x), None)
                for row, row_numbers in zip(w, w.numbers)]
    return [sum(map(mul, row, x)) for row in w.numbers]   # plain floats


def mlp(x, fc1, fc2):
    """fc2 relu(fc1 x), where relu(h) = max(0, h) for each unit h of fc1 x.

    Speed-up: a unit that is off (h <= 0) outputs 0, which adds nothing to
    fc2's products and passes no gradient back. So fc2 reads only the units
    that are on, each with its column of fc2 (the same numbers, to the last
    bit: adding a product of 0 changes no float sum), and relu makes no
    nodes: a unit that is on passes h on as it is (derivative 1). With the
    default settings on 32,000 names, half the units are off at the start
    of training and nearly 9 in 10 by its end. The cut rows are new tuples at
    every position, so unlike other rows of weights the search goes through
    them each time. Plain floats have no graph to shrink: they take relu and
    all of fc2, the plain way, as the same cut would save them little (a
    validation pass after 500 steps runs about 6% faster with it).
    """
    h = linear(x, fc1)
    if isinstance(h[0], Value):
        on = [j for j, hj in enumerate(h) if hj.data > 0]
        if not on:                   # every unit off: fc2's output is all 0,
            return [0.0] * len(fc2)  # constants, which the residual + adds
        return linear([h[j] for j in on], fc2.columns(on))
    return linear([max(0.0, hj) for hj in h], fc2)   # plain floats: relu, then all of fc2


def softmax(logits, only=None):
    """Scores to probabilities: p_i = exp(z_i - max z) / sum_j exp(z_j - max z).

    Subtracting the largest score changes nothing (it cancels between top and
    bottom) but keeps every exponent at most 0, so exp() cannot overflow
    however large the (finite) scores grow.

    Speed-up: with only=i, just p_i. The loss needs no other probability, so
    this skips the other products e_j * total^-1; the exps and their sum
    are still all needed.
    """
    if isinstance(logits[0], Value):
        max_z = max(z.data for z in logits)
        # exp(z - c) as one node (see Value.exp). c = max z is taken as a
        # constant: softmax's result does not depend on c at all, so neither
        # does its gradient.
        exps = [z.exp(shift=max_z) for z in logits]
    else:                                        # plain floats
        max_z = max(logits)
        exps = [math.exp(z - max_z) for z in logits]
    # ** -1, not 1 / total: the engine divides only by numbers.
    inv_total = vsum(exps) ** -1
    if only is not None:
        return exps[only] * inv_total
    return [e * inv_total for e in exps]


def rmsnorm(x):
    """x rescaled to a root-mean-square of 1: x_i / sqrt(mean(x^2) + 1e-5).

    The 1e-5 keeps an all-zero x from dividing by zero (and leaves the
    root-mean-square a hair under 1).
    """
    if isinstance(x[0], Value):
        # Speed-up: the sum of squares as one dot node x.x (the same tuple
        # twice; backward hands x_i its 2 x_i g in two halves). Its value
        # comes from vsum, as on the float path, for the same bits.
        x = tuple(x)
        sum_squares = Value(vsum([xi.data * xi.data for xi in x]), (x, x), None)
    else:                                        # plain floats
        sum_squares = vsum([xi * xi for xi in x])
    scale = (sum_squares / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def add(x, y):
    """x + y, number by number: the residual connection."""
    return [a + b for a, b in zip(x, y)]


class KVCache:
    """The keys and values of the positions read so far.

    keys[layer][head] is a list with an entry per position read: that
    position's key for the head, a tuple of head_dim Values (floats when
    there is no graph). values is laid out the same way, with lists for
    tuples.
    """

    def __init__(self, model, graph):
        self.graph = graph   # True: run on Values (training); False: on plain floats
        self.keys = [[[] for _ in range(model.n_head)] for _ in range(model.n_layer)]
        self.values = [[[] for _ in range(model.n_head)] for _ in range(model.n_layer)]
        self.attention = None   # --explain (part 2) sets a list here to collect the weights


class GPT:
    """The parameters, and the forward pass for one position."""

    def __init__(self, config, vocab_size, rng):
        if config.n_embd % config.n_head:
            raise ValueError(f'n_head ({config.n_head}) must divide n_embd ({config.n_embd})')
        self.n_layer, self.n_head = config.n_layer, config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.block_size = config.block_size
        self.vocab_size = vocab_size

        def matrix(rows, cols):
            return Matrix(tuple(Value(rng.gauss(0, config.init_std)) for _ in range(cols))
                          for _ in range(rows))

        # The order of creation fixes which random numbers each matrix gets.
        n = config.n_embd
        self.state_dict = {
            'wte': matrix(vocab_size, n),          # token embeddings, a row per token
            'wpe': matrix(config.block_size, n),   # position embeddings, a row per position
            'lm_head': matrix(vocab_size, n),      # the last vector -> a logit per token
        }
        for i in range(config.n_layer):
            self.state_dict[f'layer{i}.attn_wq'] = matrix(n, n)
            self.state_dict[f'layer{i}.attn_wk'] = matrix(n, n)
            self.state_dict[f'layer{i}.attn_wv'] = matrix(n, n)
            self.state_dict[f'layer{i}.attn_wo'] = matrix(n, n)
            self.state_dict[f'layer{i}.mlp_fc1'] = matrix(4 * n, n)
            self.state_dict[f'layer{i}.mlp_fc2'] = matrix(n, 4 * n)
        # Every weight in one list, matrix by matrix and row by row, for Adam.
        self.params = [p for mat in self.state_dict.values() for row in mat for p in row]

    def new_cache(self, graph):
        """An empty KVCache, to read a document from its first position.

        It also takes a new float copy of every matrix, so that the document
        is read with the weights as they are now.
        """
        for mat in self.state_dict.values():
            mat.refresh()
        return KVCache(self, graph)

    def attention(self, x, i, cache):
        """Layer i's attention: this position's query against the keys of this
        position and every one before it, head by head; then wo."""
        sd = self.state_dict
        q = linear(x, sd[f'layer{i}.attn_wq'])
        k = linear(x, sd[f'layer{i}.attn_wk'])
        v = linear(x, sd[f'layer{i}.attn_wv'])
        out = []
        for h in range(self.n_head):
            head = slice(h * self.head_dim, (h + 1) * self.head_dim)
            keys, values = cache.keys[i][h], cache.values[i][h]
            # A key is a tuple: every later position's dot node holds the
            # same one. The value vectors are read column by column, below.
            keys.append(tuple(k[head]))
            values.append(v[head])
            q_h = tuple(q[head])
            # The spread of a dot of head_dim random terms grows like
            # sqrt(head_dim); dividing by it keeps the scores' spread from
            # growing with the head size, so that softmax does not turn
            # peaked just because heads are wide.
            scores = [dot(q_h, k_t) / self.head_dim ** 0.5 for k_t in keys]
            # A tuple, as the head's head_dim dot nodes below all hold it.
            weights = tuple(softmax(scores))
            if cache.attention is not None:
                cache.attention[i][h].append(weights)
            # out_h, number by number: number j is the dot product of the
            # weights with column j, number j of every value vector so far.
            columns = zip(*values)
            out.extend(dot(weights, column) for column in columns)
        return linear(out, sd[f'layer{i}.attn_wo'])   # the heads end to end, mixed by wo

    def __call__(self, token_id, pos_id, cache):
        """The logits for the token after token_id, which sits at position pos_id.

        Positions come in order, 0, 1, 2, ...: each call appends this position's
        keys and values to cache, where this position and every later one
        read them.
        """
        sd = self.state_dict
        wte, wpe = sd['wte'], sd['wpe']
        if not cache.graph:   # plain floats: rows of the float copies
            wte, wpe = wte.numbers, wpe.numbers
        x = [t + p for t, p in zip(wte[token_id], wpe[pos_id])]
        x = rmsnorm(x)
        for i in range(self.n_layer):
            x = add(x, self.attention(rmsnorm(x), i, cache))
            x = add(x, mlp(rmsnorm(x), sd[f'layer{i}.mlp_fc1'], sd[f'layer{i}.mlp_fc2']))
        return linear(x, sd['lm_head'])


# ----------------------------------------------------------------------------
# Section 6: Training
# ----------------------------------------------------------------------------
#
# The loss of a document is the cross-entropy of the model's guesses: at each
# position, -log(the probability it gave the token that really came next),
# averaged over the positions. A model sure of every right token would score
# 0; one guessing uniformly among V tokens scores log V (3.3 for 26 letters
# and BOS). Why -log p: it is small when the right token got a high
# probability and grows without bound as that probability goes to 0, so a
# confident mistake costs the most; and since the log of a product is a sum,
# the lowest mean loss is the highest probability of the whole document.
#
# A training step: the loss of the step's documents, backward() for the
# gradients, and one Adam update of every parameter. The learning rate falls
# linearly from its start toward 0 over the run: a step's gradient, from one
# document or a few, is a noisy guess at the direction that helps, and
# smaller steps at the end let the model settle instead of jumping around.
#
# The validation loss is the same cross-entropy on the held-out documents,
# computed on plain floats, with no graph, and averaged per predicted token
# rather than per document (so the two are not quite on one scale: watch how
# each moves). If the training loss falls and the validation loss does not,
# the model memorizes its documents instead of learning their rules.

def position_losses(model, tokens, graph):
    """-log p(the next token) at each position, as Values (graph) or floats.

    A document longer than the context is read up to block_size positions.
    """
    cache = model.new_cache(graph)
    losses = []
    for pos_id in range(min(model.block_size, len(tokens) - 1)):
        p = softmax(model(tokens[pos_id], pos_id, cache), only=tokens[pos_id + 1])
        number = p.data if graph else p
        if not number >= 1e-300:          # (a NaN fails this test too)
            # Only blown-up weights make a probability this small (a logit
            # ~690 below the largest). log's derivative 1/p would overflow to
            # infinity from ~5e-309 on, and exp() gives exactly 0 from ~745.
            raise FloatingPointError(f'the probability of the next token became {number:.3g}')
        losses.append(-p.log() if graph else -math.log(p))
    return losses


def document_loss(model, tokens):
    """The mean cross-entropy over a document's positions, as one graph."""
    losses = position_losses(model, tokens, graph=True)
    # * (1 / n) rather than / n: the two can differ in the last bit, and this
    # is the one fixed here (train averages its batch the same way).
    return vsum(losses) * (1 / len(losses))


class Adam:
    """Gradient descent with a step size of its own for every parameter.

        m = beta1 m + (1 - beta1) g         running mean of the gradient (exponentially weighted)
        v = beta2 v + (1 - beta2) g^2       the same of its square
        m_hat, v_hat = m / (1 - beta1^t), v / (1 - beta2^t)    (t: this step's number, from 1)
        p = p - lr m_hat / (sqrt(v_hat) + eps)

    Dividing by sqrt(v) makes the step about lr in size whether a steady
    gradient is large or tiny. But m and v start at 0, so early on they are
    too small: for a gradient that stays the same, by the factors
    (1 - beta1^t) and (1 - beta2^t) after t steps. The two don't cancel:
    without correction, step t would be (1 - beta1^t) / sqrt(1 - beta2^t)
    times its intended size: with the betas here, 1.5 at t = 1 and up to 2.6
    near t = 8 before it fades; with the common 0.9 and 0.999, 3.2 at first;
    with beta1 0.99 and beta2 0.999, 0.32 at first, too small. m_hat and
    v_hat undo both factors, so from the first step on a steady gradient
    gets steps of the size lr asks for.
    """

    def __init__(self, params, beta1, beta2, eps):
        self.params = params
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [0.0] * len(params)
        self.v = [0.0] * len(params)
        self.t = 0   # steps taken

    def step(self, lr):
        """Update every parameter from its .grad, then zero the .grad for the next step."""
        self.t += 1
        beta1, beta2, eps, m, v = self.beta1, self.beta2, self.eps, self.m, self.v
        bias1, bias2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        one_minus_beta1, one_minus_beta2 = 1 - beta1, 1 - beta2
        for i, p in enumerate(self.params):
            g = p.grad
            m_i = beta1 * m[i] + one_minus_beta1 * g
            v_i = beta2 * v[i] + one_minus_beta2 * g * g
            p.data -= lr * (m_i / bias1) / ((v_i / bias2) ** 0.5 + eps)
            m[i], v[i] = m_i, v_i
            p.grad = 0.0


def train(model, optimizer, tokenizer, docs, config, first_step=0):
    """Train on docs in order, config.batch_size documents per step, going round
    as needed; yield (step, loss) after each step, the step counted from 1.

    A generator, so the caller shows progress as it goes, and stops between
    two steps by not asking for the next. first_step > 0 resumes a run.

    The context holds block_size positions: they read BOS and the first
    block_size - 1 characters, and predict the first block_size characters.
    Only those are needed, so a document is cut to block_size characters
    before it is encoded (position_losses would stop there anyway), and one
    that long or longer never predicts its final BOS: the model never learns
    where it ends (and of a longer one, only how it starts).
    """
    batch = config.batch_size
    for step in range(first_step, config.steps):
        first = step * batch   # documents read by the steps before this one
        docs_now = [docs[(first + j) % len(docs)] for j in range(batch)]
        losses = [document_loss(model, tokenizer.encode(doc[:model.block_size])) for doc in docs_now]
        loss = vsum(losses) * (1 / batch)
        if not math.isfinite(loss.data):
            raise FloatingPointError(f'the loss became {loss.data}')
        loss.backward()
        optimizer.step(config.learning_rate * (1 - step / config.steps))
        yield step + 1, loss.data


def validation_loss(model, tokenizer, docs):
    """The mean loss per predicted token over docs, with no graph.

    Per token, not per document: a long name holds more guesses, and counts
    for more than a short one.
    """
    losses = []
    for doc in docs:
        losses += position_losses(model, tokenizer.encode(doc[:model.block_size]), graph=False)
    total = vsum(losses)
    if not math.isfinite(total):
        raise FloatingPointError(f'the validation loss became {total / len(losses)}')
    return total / len(losses)


# ----------------------------------------------------------------------------
# Section 7: Sampling
# ----------------------------------------------------------------------------
#
# To write a new document: feed BOS, turn the logits into probabilities, draw
# the next token from them, feed it back in, and repeat until the model
# writes BOS (the end) or the context is full. Like validation, this needs no
# gradients, so it runs on plain floats.
#
# The temperature divides the logits first: below 1 it widens the gaps
# between them, so likely tokens grow likelier (safer, duller text); above 1
# it evens them out (wilder text).
#
# A prefix makes every sample start the same way: its characters are fed in
# after BOS as if the model had written them, and drawing starts after them.

def sample(model, tokenizer, rng, temperature, prefix='', keep=None):
    """Write one new document that starts with prefix.

    keep, if given, maps the probabilities to the ones to draw from (part 2
    passes one for --top-k and --top-p).
    """
    prefix_ids = [tokenizer.ids[ch] for ch in prefix]
    cache = model.new_cache(graph=False)
    token_id = tokenizer.bos
    out = []
    for pos_id in range(model.block_size):
        logits = model(token_id, pos_id, cache)
        if pos_id < len(prefix_ids):
            # The next token is the prefix's, not a draw. (The call above still
            # counts: it added the keys and values of the token it read.)
            token_id = prefix_ids[pos_id]
        else:
            probs = softmax([z / temperature for z in logits])
            if not math.isfinite(sum(probs)):
                # Only blown-up weights (or a temperature so small that z / T
                # overflows) get here: the weights to draw by are not numbers.
                raise FloatingPointError('the sampling probabilities are not numbers')
            if keep is not None:
                probs = keep(probs)
            token_id = rng.choices(range(model.vocab_size), weights=probs)[0]
            if token_id == tokenizer.bos:
                break
        out.append(token_id)
    return tokenizer.decode(out)


# That is the whole algorithm. A run puts it together in this order (run(),
# in part 2, does the same with a display around it, and when it trains
# also measures the validation loss before training, on at most --val-docs
# held-out documents).
# One random generator, seeded once, makes every random choice in the same
# order each time, so a seed fixes the run: the shuffle, then the initial
# weights, then (training draws nothing) the samples.
#
#     import random
#     config = Config()
#     rng = random.Random(config.seed)
#     docs = read_docs(open('input.txt', encoding='utf-8').read())   # run from this folder
#     rng.shuffle(docs)
#     tokenizer = Tokenizer(docs)
#     train_docs, held_out = split_docs(docs)
#     model = GPT(config, tokenizer.vocab_size, rng)
#     optimizer = Adam(model.params, config.beta1, config.beta2, config.eps)
#     for step, loss in train(model, optimizer, tokenizer, train_docs, config):
#         print(step, loss)
#     if held_out:                                  # (none below 10 documents)
#         print(validation_loss(model, tokenizer, held_out))
#     for _ in range(config.num_samples):
#         print(sample(model, tokenizer, rng, config.temperature))


# ----------------------------------------------------------------------------
# Part 2: the program around it
# ============================================================================
#
# Everything from here on is plumbing: reading the input safely, the command
# line, what a run prints, saving and loading a model, sampling with --top-k
# and --top-p, and --explain. The algorithm is all above; a learner may stop
# here. (Part 2's own imports are here too, so part 1 reads with only its
# three.)

import argparse
import gc
import os
import random
import signal
import time


class InputError(Exception):
    """Bad input from the user: main() prints it as one line and exits with code 2."""


# ----------------------------------------------------------------------------
# Section 8: Reading the input
# ----------------------------------------------------------------------------
#
# The file is read as bytes, at most MAX_INPUT_BYTES of them, so that a huge
# file (or /dev/zero, which never ends) is refused instead of filling memory.
# '-' reads standard input. A bad byte is reported with its line number.

MAX_INPUT_BYTES = 100 * 1024 * 1024


def read_input(path):
    """The text of path ('-' for standard input), as a str. The file is only read."""
    name = 'standard input' if path == '-' else path
    try:
        if path == '-':
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1) if sys.stdin else b''
        else:
            with open(path, 'rb') as f:
                data = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f'{name}: no such file') from None
    except IsADirectoryError:
        raise InputError(f'{name}: is a directory, not a text file') from None
    except OSError as e:
        raise InputError(f'{name}: cannot read it ({e.strerror})') from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f'{name}: larger than {MAX_INPUT_BYTES // 2**20} MB; '
                         f'microgpt reads at most that much')
    if data.startswith(b'\xef\xbb\xbf'):
        data = data[3:]   # the byte-order mark some editors write first
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        line = data.count(b'\n', 0, e.start) + 1
        raise InputError(f'{name}: line {line} is not UTF-8 text '
                         f'(byte 0x{data[e.start]:02x})') from None


# ----------------------------------------------------------------------------
# Section 9: The command line
# ----------------------------------------------------------------------------
#
# The knobs of Config, as --help lists them: a flag, its metavar, what it
# means. Each flag sets the Config setting of the same name (dashes for
# underscores; --lr and --samples are short for learning_rate and
# num_samples), of the same type as its default. A flag left out is None here
# and takes its value from Config, or from the model given with --load.

KNOBS = """
--steps        N   training steps in all (with --load, counting those done); 0 trains nothing
--batch-size   B   documents per step
--lr           LR  Adam's learning rate at the first step
--beta1        B   Adam's beta1, in [0, 1)
--beta2        B   Adam's beta2, in [0, 1)
--eps          E   Adam's epsilon, above 0
--n-embd       N   embedding size
--n-head       N   attention heads; must divide --n-embd
--n-layer      N   transformer layers
--block-size   N   context length, in tokens
--init-std     S   standard deviation of the initial weights
--seed         N   seed of the shuffle, the weights and the samples
--temperature  T   sampling temperature, above 0
--samples      K   documents to write after training
"""
SHORT_FLAGS = {'--lr': 'learning_rate', '--samples': 'num_samples'}


def read_knobs(table):
    """(flag, Config setting, metavar, help) for each line of the table."""
    rows = []
    for line in table.strip().splitlines():
        flag, metavar, text = line.split(None, 2)
        rows.append((flag, SHORT_FLAGS.get(flag, flag[2:].replace('-', '_')), metavar, text))
    return rows


FLAGS = read_knobs(KNOBS)
MAX_STEPS = 10 ** 9


class QuietParser(argparse.ArgumentParser):
    """argparse, but a mistake raises InputError (one line, exit 2) instead of exiting."""
    def error(self, message):
        raise InputError(f'{message} (see --help)')


def help_formatter(prog):
    """argparse's help layout, as wide as the terminal (80 if there is none).

    argparse would find the width itself, but with shutil, whose import brings
    zlib, bz2 and lzma along: half a megabyte or more of every run's memory,
    for a number os can tell.
    """
    try:
        width = os.get_terminal_size().columns or 80   # (a terminal may say 0)
    except OSError:   # standard output is not a terminal
        width = 80
    return argparse.HelpFormatter(prog, width=width - 2)   # the margin argparse leaves


def make_parser():
    parser = QuietParser(
        prog='microgpt.py', add_help=False, formatter_class=help_formatter,
        description='Train a tiny GPT on a text file (one document per line), then '
                    'write new documents like them. Ctrl-C during training stops it '
                    'early and goes on; a second Ctrl-C quits.')
    # -h is ours, not argparse's: argparse would print the help itself and
    # quietly drop an error in writing it (say, to a full disk).
    parser.add_argument('-h', '--help', action='store_true', help='show this help and exit')
    parser.add_argument('--input', metavar='PATH',
                        help="training data, one document per line; '-' reads standard "
                             "input (default: input.txt beside this script)")
    for flag, name, metavar, text in FLAGS:
        parser.add_argument(flag, dest=name, type=type(getattr(Config, name)), metavar=metavar,
                            help=f'{text} (default: {getattr(Config, name)})')
    parser.add_argument('--val-docs', type=int, default=200, metavar='N',
                        help='held-out documents to measure the validation loss on (default: 200)')
    parser.add_argument('--prefix', default='', metavar='TEXT',
                        help='text every sample starts with')
    parser.add_argument('--top-k', type=int, metavar='K',
                        help='draw only from the K likeliest tokens (default: off)')
    parser.add_argument('--top-p', type=float, metavar='P',
                        help='draw only from the fewest likeliest tokens whose '
                             'probabilities add up to P (default: off)')
    parser.add_argument('--save', metavar='PATH', help='write the model to PATH after training')
    parser.add_argument('--load', metavar='PATH',
                        help='start from a model saved with --save: its settings and '
                             'vocabulary rule (a flag that contradicts them is an error)')
    parser.add_argument('--explain', metavar='TEXT',
                        help="after training, show the model's guesses and attention on TEXT "
                             "(instead of the validation loss and the samples)")
    return parser


def parse_args(argv):
    """(the parsed arguments, the settings given on the command line)."""
    args = make_parser().parse_args(argv)
    given = {name: getattr(args, name) for _, name, *_ in FLAGS if getattr(args, name) is not None}
    return args, given


def check_settings(c, args):
    """Raise InputError for the first setting that cannot work."""
    problems = [
        (not 0 <= c.steps <= MAX_STEPS, f'--steps must be from 0 to {MAX_STEPS:,} (got {c.steps})'),
        (not 1 <= c.batch_size <= 10 ** 6, f'--batch-size must be from 1 to 1,000,000 (got {c.batch_size})'),
        (not (math.isfinite(c.learning_rate) and c.learning_rate > 0),
         f'--lr must be a number above 0 (got {c.learning_rate})'),
        (not 0 <= c.beta1 < 1, f'--beta1 must be in [0, 1) (got {c.beta1})'),
        (not 0 <= c.beta2 < 1, f'--beta2 must be in [0, 1) (got {c.beta2})'),
        (not (math.isfinite(c.eps) and c.eps > 0), f'--eps must be a number above 0 (got {c.eps})'),
        (c.n_embd < 1, f'--n-embd must be at least 1 (got {c.n_embd})'),
        (c.n_head < 1, f'--n-head must be at least 1 (got {c.n_head})'),
        (c.n_layer < 1, f'--n-layer must be at least 1 (got {c.n_layer})'),
        (c.block_size < 1, f'--block-size must be at least 1 (got {c.block_size})'),
        (c.n_head >= 1 and c.n_embd % c.n_head != 0, f'--n-embd ({c.n_embd}) must be divisible by --n-head ({c.n_head})'),
        (not (math.isfinite(c.init_std) and c.init_std >= 0),
         f'--init-std must be a number, 0 or more (got {c.init_std})'),
        (not (math.isfinite(c.temperature) and c.temperature > 0),
         f'--temperature must be a number above 0 (got {c.temperature})'),
        # Sampling divides by the temperature: the result must stay finite.
        (c.temperature > 0 and not math.isfinite(1 / c.temperature),
         f'--temperature {c.temperature} is too small: dividing by it overflows'),
        (c.num_samples < 0, f'--samples must be 0 or more (got {c.num_samples})'),
        (args.val_docs < 0, f'--val-docs must be 0 or more (got {args.val_docs})'),
        (args.top_k is not None and args.top_k < 1, f'--top-k must be at least 1 (got {args.top_k})'),
        (args.top_p is not None and not 0 < args.top_p <= 1,
         f'--top-p must be above 0 and at most 1 (got {args.top_p})'),
        (len(args.prefix) >= c.block_size,
         f'--prefix {args.prefix!r} is {len(args.prefix)} characters long, but the context '
         f'(--block-size {c.block_size}) leaves room for at most {c.block_size - 1}'),
        (args.input == '', '--input needs a path'),
        (args.explain == '', '--explain needs some text'),
    ]
    for bad, message in problems:
        if bad:
            raise InputError(message)
    # Every weight is a Value of about 100 bytes: 10^8 of them would not fit.
    # (This counts the weights the settings fix; wte's and lm_head's also
    # depend on the vocabulary, which the data has not told yet.)
    if 12 * c.n_embd * c.n_embd * c.n_layer + c.block_size * c.n_embd > 10 ** 8:
        raise InputError(f'a model with --n-embd {c.n_embd}, --n-layer {c.n_layer} and '
                         f'--block-size {c.block_size} would not fit in memory')


# ----------------------------------------------------------------------------
# Section 10: What a run prints
# ----------------------------------------------------------------------------

def plural(n, noun):
    """'1 step', '2 steps', '1,000 steps'."""
    return f'{n:,} {noun}' if n == 1 else f'{n:,} {noun}s'


def describe_data(docs, train_docs, held_out, config, name):
    """Lines that say what the run will do with the data."""
    lines = [f'{plural(len(docs), "document")} in {name}: {len(train_docs):,} to train on, '
             f'{len(held_out):,} held out for validation']
    # Sorted, equal documents stand side by side. (A set would find them too,
    # but for a big file its table takes more memory than all of training.)
    in_order = sorted(docs)
    duplicates = sum(1 for a, b in zip(in_order, in_order[1:]) if a == b)
    del in_order
    if duplicates:
        lines.append(f'{plural(duplicates, "line")} {"repeats" if duplicates == 1 else "repeat"} '
                     f'an earlier one')
    too_long = sum(1 for doc in docs if len(doc) > config.block_size)
    if too_long:
        lines.append(f'{plural(too_long, "document")} longer than the context (--block-size '
                     f'{config.block_size}) will be cut to {"its" if too_long == 1 else "their"} first '
                     f'{config.block_size} characters')
    return lines


def progress_line(step, steps, loss, seconds, steps_run):
    """One line of progress; seconds is the time the steps_run steps of this run took."""
    seconds_left = round((steps - step) * seconds / steps_run)
    clock = f'{seconds_left // 60}:{seconds_left % 60:02d}'   # minutes:seconds
    return (f'step {step:{len(str(steps))}d} / {steps} | loss {loss:.4f} | '
            f'{1000 * seconds / steps_run:.1f} ms/step | {clock} left')


class CtrlC:
    """The first Ctrl-C asks training to stop after the step it is in; a second quits.

    Python runs the handler between two bytecodes, wherever training is (in
    the middle of backward, say), so the first one only sets a flag, which
    the loop reads between steps.
    """

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def blown_up(where, error, *knobs):
    """The InputError for numbers that became infinite or not a number."""
    if isinstance(error, OverflowError):
        error = 'a number grew too large for a float'
    return InputError(f'the numbers blew up {where} ({error}); try a smaller '
                      + ' or a smaller '.join(knobs))


def train_with_progress(model, optimizer, tokenizer, docs, config, first_step):
    """Run train() with a progress display; return the losses of the steps that ran.

    On a terminal one line is rewritten in place after every step; into a file
    or a pipe, a line is written at each twentieth of the run and at the last step.
    """
    steps, losses = config.steps, []
    live = sys.stdout.isatty()
    shown = 0   # the length of the line on screen, to overwrite all of it
    start = time.perf_counter()
    step = first_step
    try:
        with CtrlC() as ctrl_c:
            for step, loss in train(model, optimizer, tokenizer, docs, config, first_step):
                losses.append(loss)
                line = progress_line(step, steps, loss, time.perf_counter() - start, len(losses))
                if live:
                    print('\r' + line.ljust(shown), end='', flush=True)
                    shown = len(line)
                elif step * 20 // steps > (step - 1) * 20 // steps or ctrl_c.requested:
                    print(line, flush=True)
                if ctrl_c.requested:
                    break
    except (FloatingPointError, OverflowError) as e:
        raise blown_up(f'at training step {step + 1}', e, '--lr', '--init-std') from None
    finally:
        if shown:
            print()   # end the rewritten line
    seconds = time.perf_counter() - start
    if step < steps:
        print(f'stopped by Ctrl-C after step {step} of {steps}; going on with the model trained so far')
    print(f'trained {len(model.params):,} parameters for {plural(len(losses), "step")} in '
          f'{seconds:.1f} s ({1000 * seconds / len(losses):.1f} ms per step)')
    return losses


BARS = '▁▂▃▄▅▆▇█'


def loss_curve(losses, width=50):
    """Two lines: what the curve shows, then the loss over the run as bars.

    Each bar is the mean loss over the tenth of the run that ends at its step
    (near the start, over the steps so far), which smooths out how much one
    document's loss jumps around. A curve that moves less than the two
    decimals printed beside it is drawn flat, not stretched out of noise.
    """
    n = len(losses)
    width = min(width, n)
    window = max(1, n // 10)
    means = []
    for i in range(1, width + 1):
        end = i * n // width
        part = losses[max(0, end - window):end]
        means.append(sum(part) / len(part))
    low, high = min(means), max(means)
    flat = high - low < 0.01
    bars = ''.join(BARS[0 if flat else round((len(BARS) - 1) * (m - low) / (high - low))]
                   for m in means)
    if window == 1:
        caption = f'loss curve, {plural(n, "step")} (a bar per step)'
    else:
        caption = f'loss curve, {plural(n, "step")} (each bar: the mean loss of the {window} steps up to it)'
    return f'{caption}\n{means[0]:.2f} {bars} {means[-1]:.2f}'


def print_validation_loss(model, tokenizer, val_docs, when):
    if val_docs:
        try:
            loss = validation_loss(model, tokenizer, val_docs)
        except (FloatingPointError, OverflowError) as e:
            raise blown_up(f'in the validation loss ({when})', e,
                           *(['--init-std'] if when == 'before training' else ['--lr', '--init-std'])) from None
        print(f'val loss {loss:.4f} ({when}; per token, on '
              f'{plural(len(val_docs), "held-out document")})', flush=True)


def top_k_top_p(top_k, top_p):
    """The `keep` for sample(): zero every probability outside the top k, and
    outside the fewest likeliest tokens whose probabilities reach top_p."""
    def keep(probs):
        ranked = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)
        if top_k is not None:
            ranked = ranked[:top_k]
        if top_p is not None:
            total = 0.0
            for n, i in enumerate(ranked, start=1):
                total += probs[i]
                if total >= top_p:
                    ranked = ranked[:n]
                    break
        kept = set(ranked)
        return [p if i in kept else 0.0 for i, p in enumerate(probs)]
    return keep


def print_samples(model, tokenizer, rng, config, args, train_text):
    """Write config.num_samples documents, each marked new or in the training data.

    train_text holds every training document on a line of its own, with a
    newline before the first one too, so that a search for '\\nname\\n' can
    only match a whole line.
    """
    if not config.num_samples:
        return
    details = [f'temperature {config.temperature}']
    if args.top_k is not None:
        details.append(f'top-k {args.top_k}')
    if args.top_p is not None:
        details.append(f'top-p {args.top_p}')
    if args.prefix:
        details.append(f'prefix {args.prefix!r}')
    keep = None if args.top_k is None and args.top_p is None else top_k_top_p(args.top_k, args.top_p)
    print(f'--- {plural(config.num_samples, "sample")} ({", ".join(details)}) ---')
    new = empty = 0
    for i in range(config.num_samples):
        try:
            text = sample(model, tokenizer, rng, config.temperature, args.prefix, keep)
        except (FloatingPointError, OverflowError) as e:
            # A tiny temperature can overflow z / T; otherwise it is the weights.
            raise InputError(f'the numbers blew up while sampling ({e}); try a larger '
                             f'--temperature, or a smaller --lr or --init-std') from None
        if not text:
            # The model wrote BOS, the end, as its first token.
            print(f'sample {i + 1:2d}: (empty: the model ended it at once)')
            empty += 1
            continue
        # A sample as long as the context was cut off there, so it counts as
        # seen if a training document starts with it: training, too, only
        # ever showed the model the first block_size characters.
        if len(text) == model.block_size:
            seen = f'\n{text}' in train_text
        else:
            seen = f'\n{text}\n' in train_text
        if not seen:
            new += 1
        print(f'sample {i + 1:2d}: {text}  ({"in the training data" if seen else "new"})')
    summary = f'new, not in the training data: {new} of {plural(config.num_samples, "sample")}'
    if empty:
        summary += f' ({empty} empty)'
    print(summary)


# ----------------------------------------------------------------------------
# Section 11: Saving and loading a model
# ----------------------------------------------------------------------------
#
# A saved model is a JSON file anyone can read: a format version, the
# settings, the vocabulary, every weight by name, Adam's state, the steps
# done, and the random generator's state: all that a run stopped early needs
# to go on, resumed with the same --steps, exactly as an unbroken run would.
# (Given more steps than the first run had, it goes on from where that run
# stopped, but the steps already done followed the shorter run's learning
# rate schedule: the end is not that of one longer run.) It is written to a
# temporary file beside the target and then renamed over it, so an
# interrupted save never leaves half a model, and an old file is only ever
# replaced by a whole one.
#
# json is imported in the two functions that use it, not at the top, so that
# a run without --save or --load never loads it (about 0.2 MB less memory).

FORMAT, VERSION = 'microgpt model', 1
SAVED_SETTINGS = ('n_layer', 'n_embd', 'n_head', 'block_size', 'init_std', 'steps',
                  'batch_size', 'learning_rate', 'beta1', 'beta2', 'eps', 'seed')


def save_model(path, model, optimizer, tokenizer, config, steps_done, rng):
    import json
    state = {
        'format': FORMAT,
        'version': VERSION,
        'settings': {name: getattr(config, name) for name in SAVED_SETTINGS},
        'vocabulary': tokenizer.chars,
        'steps_done': steps_done,
        'weights': {name: [[p.data for p in row] for row in mat] for name, mat in model.state_dict.items()},
        # Adam's running means, one per parameter, in the order of the weights above.
        'adam': {'t': optimizer.t, 'm': optimizer.m, 'v': optimizer.v},
        'random_state': rng.getstate(),
    }
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(temporary, 'w', encoding='utf-8') as f:
            json.dump(state, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())   # on disk before the rename makes it the model
        os.replace(temporary, path)
    except OSError as e:
        raise InputError(f'--save {path}: cannot write it ({e.strerror})') from None
    finally:
        if os.path.exists(temporary):   # a save that failed, or was interrupted
            os.remove(temporary)


def read_model(path):
    """The contents of a saved model file, checked; raise InputError if it is not one."""
    import json
    def bad(problem):
        return InputError(f'--load {path}: {problem}')
    try:
        with open(path, encoding='utf-8') as f:
            state = json.load(f)
    except FileNotFoundError:
        raise bad('no such file') from None
    except OSError as e:
        raise bad(f'cannot read it ({e.strerror})') from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad('not a complete JSON file (is it cut short, or not a saved model?)') from None
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise bad('not a model saved by microgpt.py')
    if state.get('version') != VERSION:
        raise bad(f'format version {state.get("version")!r}; this program reads version {VERSION}')
    try:
        settings = state['settings']
        for name in SAVED_SETTINGS:
            kind = type(getattr(Config, name))
            if not isinstance(settings[name], (int, float) if kind is float else int):
                raise bad(f'its setting {name} is {settings[name]!r}, not a {kind.__name__}')
        config = Config(**{name: settings[name] for name in SAVED_SETTINGS})
        chars = state['vocabulary']
        if not (isinstance(chars, list) and all(isinstance(c, str) and len(c) == 1 for c in chars)
                and chars == sorted(set(chars))):
            raise bad('the vocabulary is not a sorted list of distinct characters')
        if not (isinstance(state['weights'], dict) and isinstance(state['adam']['m'], list)
                and isinstance(state['adam']['v'], list)):
            raise bad("its weights or Adam's state are not where a saved model keeps them")
        if not (isinstance(state['steps_done'], int) and 0 <= state['steps_done']
                and isinstance(state['adam']['t'], int) and 0 <= state['adam']['t']):
            raise bad('the count of steps done is not a whole number')
        version, internal, gauss_next = state['random_state']
        if not all(isinstance(x, int) and 0 <= x < 2 ** 32 for x in internal):
            raise bad('its random state is not one Python can take back')
        state['random_state'] = (version, tuple(internal), gauss_next)
        random.Random().setstate(state['random_state'])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise bad('some part of the model is missing or of the wrong kind') from None
    state['config'] = config
    return state


def restore(model, optimizer, state, path):
    """Put the saved weights and Adam's state into model and optimizer, checking
    that each matrix has the shape the model's settings give it."""
    def bad(problem):
        return InputError(f'--load {path}: {problem}')

    def number(x, what):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise bad(f'{what} holds {x!r}, not a finite number')
        return float(x)

    weights = state['weights']
    if not isinstance(weights, dict) or set(weights) != set(model.state_dict):
        raise bad('its matrices are not the ones its settings call for')
    for name, mat in model.state_dict.items():
        rows = weights[name]
        if not isinstance(rows, list) or len(rows) != len(mat) or any(
                not isinstance(saved, list) or len(saved) != len(row) for saved, row in zip(rows, mat)):
            raise bad(f'{name} is not {len(mat)} x {len(mat[0])}, as its settings call for')
        for row, saved in zip(mat, rows):
            for p, x in zip(row, saved):
                p.data = number(x, name)
    for part in ('m', 'v'):
        saved = state['adam'][part]
        if not isinstance(saved, list) or len(saved) != len(model.params):
            raise bad(f"Adam's {part} does not have one number per parameter")
        setattr(optimizer, part, [number(x, f"Adam's {part}") for x in saved])
    if any(x < 0 for x in optimizer.v):
        raise bad("Adam's v holds a negative number, but it is a mean of squares")
    optimizer.t = state['adam']['t']


# ----------------------------------------------------------------------------
# Section 12: A look inside (--explain)
# ----------------------------------------------------------------------------
#
# Feed a text through the model and draw what it computed: at each position,
# its top guesses for the next character and the probability it gave the one
# that really comes next; then, for each layer and head, how much each
# position attended to itself and to each one before it.

EIGHTHS = ' ▏▎▍▌▋▊▉█'
SHADES = ' ░▒▓█'


def bar(p, width=10):
    """p in [0, 1] as a bar of block characters, width characters for p = 1."""
    eighths = round(p * width * 8)
    return '█' * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else '')


def explain(model, tokenizer, text, guesses=5):
    """The lines of the drawing for text."""
    show = lambda i: '^' if i == tokenizer.bos else tokenizer.chars[i]
    tokens = tokenizer.encode(text)
    cache = model.new_cache(graph=False)
    cache.attention = [[[] for _ in range(model.n_head)] for _ in range(model.n_layer)]
    lines = [f'--- what the model makes of {text!r} (^ is BOS) ---',
             'reads  next  p(next)  its top guesses']
    for pos_id in range(len(tokens) - 1):
        probs = softmax(model(tokens[pos_id], pos_id, cache))
        actual = tokens[pos_id + 1]
        top = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)[:guesses]
        tops = '  '.join(f'{show(i)} {probs[i]:4.0%} {bar(probs[i]):10s}' for i in top)
        lines.append(f'  {show(tokens[pos_id])}  ->  {show(actual)}  {probs[actual]:6.1%}   {tops}'.rstrip())
    read = [show(t) for t in tokens[:-1]]
    for layer in range(model.n_layer):
        for head in range(model.n_head):
            lines.append(f'attention, layer {layer} head {head} '
                         f'(row: the position reading; column: where it looks; darker: more)')
            lines.append('     ' + ' '.join(read))
            for pos_id, weights in enumerate(cache.attention[layer][head]):
                cells = ' '.join(SHADES[min(len(SHADES) - 1, round(w * (len(SHADES) - 1)))]
                                 for w in weights)
                lines.append(f'  {read[pos_id]}  {cells}')
    return lines


# ----------------------------------------------------------------------------
# Section 13: Main, the whole run in order
# ----------------------------------------------------------------------------
#
# Read the data, build the tokenizer and the model (or load one), measure the
# validation loss, train, measure it again, and sample. One random generator,
# seeded once, makes every draw in the same order each run: the shuffle, the
# weights, the samples. (The validation loss draws nothing.)

def check_characters(chars, vocabulary, what):
    unknown = sorted(set(chars) - set(vocabulary))
    if unknown:
        raise InputError(f'{what} uses characters the model has no token for: '
                         + ', '.join(map(repr, unknown[:10])) + (' ...' if len(unknown) > 10 else ''))


def fresh_copy(text):
    """A str equal to text, made anew (but for one character below U+0100,
    which CPython keeps a single copy of).

    Python keeps small objects in blocks of memory it can give to other uses
    only once every object in the block is gone. A few documents kept out of
    thousands, scattered over every block, would keep all those blocks from
    training's graphs; copies made together take a few blocks of their own.
    """
    return text.encode().decode()


def run(args, given):
    path = args.input or os.path.join(os.path.dirname(os.path.abspath(__file__)), 'input.txt')
    name = 'standard input' if path == '-' else (args.input or 'input.txt')
    saved = read_model(args.load) if args.load else None
    if saved:
        # The model's own settings rule; a knob that says otherwise is a mistake.
        for setting, value in given.items():
            if setting in SAVED_SETTINGS and setting != 'steps' and value != getattr(saved['config'], setting):
                flag = next(f for f, s, *_ in FLAGS if s == setting)
                raise InputError(f'{flag} {value} contradicts the model in {args.load}, '
                                 f'which has {setting} = {getattr(saved["config"], setting)}')
        config = saved['config']
        if given.get('steps'):   # --steps 0 trains nothing, and keeps the run's own count
            config.steps = given['steps']
        for setting in ('temperature', 'num_samples'):
            if setting in given:
                setattr(config, setting, given[setting])
        steps_done = saved['steps_done']
        if 0 < config.steps < steps_done:
            raise InputError(f'--steps {config.steps} is fewer than the {steps_done:,} steps '
                             f'the model in {args.load} has done (--steps 0 trains nothing)')
    else:
        config = Config(**given)
        steps_done = 0
    check_settings(config, args)

    docs = read_docs(read_input(path))
    if not docs:
        raise InputError(f'{name}: no documents (it is empty or has only blank lines)')
    rng = random.Random(config.seed)
    rng.shuffle(docs)
    # A saved vocabulary is a list of characters: as documents, one each.
    tokenizer = Tokenizer(saved['vocabulary'] if saved else docs)
    if saved:
        check_characters(''.join(docs), tokenizer.chars, name)
    check_characters(args.prefix, tokenizer.chars, f'--prefix {args.prefix!r}')
    if args.explain is not None:
        check_characters(args.explain, tokenizer.chars, f'--explain {args.explain!r}')
        if len(args.explain) >= config.block_size:
            raise InputError(f'--explain {args.explain!r} is longer than the context '
                             f'leaves room for ({config.block_size - 1} characters)')
    train_docs, held_out = split_docs(docs)
    for line in describe_data(docs, train_docs, held_out, config, name):
        print(line)
    to_train = 0 if given.get('steps') == 0 else max(0, config.steps - steps_done)
    if args.save and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
        raise InputError(f'--save {args.save}: no such folder')
    read = min(len(train_docs), to_train * config.batch_size)
    if to_train:
        print(f'{plural(to_train, "step")} of {plural(config.batch_size, "document")} will read '
              f'{read:,} of the {len(train_docs):,} training documents ({read / len(train_docs):.1%})')
    val_docs = [fresh_copy(doc) for doc in held_out[:args.val_docs]]
    if not held_out:
        print('no validation loss: with fewer than 10 documents, none are held out')
    elif not val_docs:
        print('no validation loss (--val-docs 0)')
    # Samples are checked against every training document, joined into one
    # string of lines, which print_samples searches. Of the documents
    # themselves only those the run will read are kept, so that training's
    # graphs can reuse their memory, and as copies (see fresh_copy), so that
    # every string read from the input is freed. Step s of train() reads the
    # documents at s * batch_size, s * batch_size + 1, ... (round the list as
    # needed): a new run reads the first `read`, and a list of just those
    # will do; a resumed run starts further in, so its list keeps its length,
    # with None for the documents it will not read.
    train_text = '\n' + '\n'.join(train_docs) + '\n'
    if steps_done == 0:
        train_docs = [fresh_copy(doc) for doc in train_docs[:read]]
    else:
        reads = {j % len(train_docs) for j in range(steps_done * config.batch_size,
                                                     steps_done * config.batch_size + read)}
        train_docs = [fresh_copy(doc) if i in reads else None for i, doc in enumerate(train_docs)]
    del docs, held_out

    model = GPT(config, tokenizer.vocab_size, rng)
    optimizer = Adam(model.params, config.beta1, config.beta2, config.eps)
    if saved:
        restore(model, optimizer, saved, args.load)
        rng.setstate(saved['random_state'])
        print(f'loaded {args.load}: {plural(steps_done, "step")} done')
    print(f'{tokenizer.vocab_size} tokens ({plural(len(tokenizer.chars), "character")} + BOS), '
          f'{len(model.params):,} parameters')

    # On CPython every node is freed by reference counting the moment backward
    # lets go of it, so the cycle collector would only waste time scanning the
    # millions of nodes a run makes. PyPy has no reference counting: there the
    # collector is what frees the graphs, and it stays on.
    pause_gc = sys.implementation.name == 'cpython' and gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        if args.explain is None and to_train:
            print_validation_loss(model, tokenizer, val_docs, 'before training')
        if to_train:
            losses = train_with_progress(model, optimizer, tokenizer, train_docs, config, steps_done)
            steps_done += len(losses)
            print(loss_curve(losses))
        if args.save:
            save_model(args.save, model, optimizer, tokenizer, config, steps_done, rng)
            print(f'saved the model to {args.save}')
        if args.explain is not None:
            for line in explain(model, tokenizer, args.explain):
                print(line)
            return
        print_validation_loss(model, tokenizer, val_docs,
                              'after training' if to_train else 'no training in this run')
        print_samples(model, tokenizer, rng, config, args, train_text)
    finally:
        if pause_gc:
            gc.enable()


def silence_stdout():
    """Point standard output at nothing, so Python's last flush on exit finds no error."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv=None):
    if sys.stdout is None:   # started with standard output closed
        if sys.stderr is not None:
            print('microgpt.py: error: standard output is closed', file=sys.stderr)
        return 2
    try:
        if hasattr(sys.stdout, 'reconfigure'):
            # A terminal that cannot show a character gets a '?' instead of a crash.
            sys.stdout.reconfigure(errors='replace')
        args, given = parse_args(sys.argv[1:] if argv is None else argv)
        if args.help:
            print(make_parser().format_help(), end='')
        else:
            run(args, given)
        sys.stdout.flush()
    except InputError as e:
        print(f'microgpt.py: error: {e}', file=sys.stderr)
        return 2
    except MemoryError:
        print('microgpt.py: error: out of memory; try a smaller model (--n-embd, '
              '--n-layer, --block-size) or --batch-size', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('\ninterrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read the output stopped (as `| head` does): stop quietly.
        silence_stdout()
        return 1
    except OSError as e:
        silence_stdout()
        print(f'microgpt.py: error: cannot write the output ({e.strerror or e})', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
