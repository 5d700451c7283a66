"""The scalar autograd engine: Value, vsum, dot, softmax, rmsnorm, linear, mlp.

Every gradient is checked against central finite differences,
(f(x + h) - f(x - h)) / 2h, computed from forward values only, so the checks
do not restate the derivative formulas of the code under test.

Tolerance. Python floats are IEEE float64 (machine epsilon 2.2e-16). A central
difference has truncation error h^2 |f'''| / 6 and rounding error about
eps |f| / h. With h = 1e-6 and the O(1) inputs used here (|f| <= ~10,
|f'''| <= ~300) that is at most ~5e-11 + ~2e-9. The check used everywhere is

    abs(numeric - analytic) <= ATOL + RTOL * abs(numeric)

with ATOL = 1e-8 and RTOL = 1e-6. That sits above the worst rounding noise,
so rounding is never flagged; yet a wrong derivative -- a wrong sign, a
factor of 2, a missing contribution -- is off by the size of a gradient
(>= 1e-2 at these points), over 10^4 times the tolerance.
"""

import gc
import math
import random

import pytest

from microgpt import Matrix, Value, dot, linear, mlp, rmsnorm, softmax, vsum
from conftest import cpython_only, gc_disabled, live_values

H = 1e-6
ATOL = 1e-8
RTOL = 1e-6


def assert_grad_close(numeric, analytic, label=''):
    assert math.isfinite(analytic), f'{label}: analytic gradient {analytic!r}'
    assert abs(numeric - analytic) <= ATOL + RTOL * abs(numeric), (
        f'{label}: numeric {numeric!r} vs analytic {analytic!r} '
        f'(difference {abs(numeric - analytic):.3g})')


def numeric_gradient(build, xs, i, h=H):
    """d build / d xs[i] by central differences, from freshly built forward passes."""
    plus = list(xs)
    minus = list(xs)
    plus[i] += h
    minus[i] -= h
    f_plus = build([Value(x) for x in plus]).data
    f_minus = build([Value(x) for x in minus]).data
    return (f_plus - f_minus) / (2 * h)


def check_gradients(build, xs):
    """Compare backward()'s gradient of build(leaves) with finite differences, per input.

    build maps a list of leaf Values to one output Value; it is called afresh
    for every evaluation, because backward() takes its graph apart.
    """
    leaves = [Value(float(x)) for x in xs]
    out = build(leaves)
    out.backward()
    for i, leaf in enumerate(leaves):
        assert_grad_close(numeric_gradient(build, xs, i), leaf.grad, f'input {i}')
    return [leaf.grad for leaf in leaves]


# Helpers that apply the same function to a Value or to a plain float, so one
# expression yields both the Value under test and an independent float reference.
def log(x):
    return x.log() if isinstance(x, Value) else math.log(x)


def topological_order(root):
    return root._topological_order()


# (name, function, a point to evaluate it at). Binary ops take two inputs.
# Points keep away from poles and from log/pow domain edges.
# These are the operations a Value has: the model needs no more (a plain
# number goes on the right, and division is by a number).
OPS = [
    ('a + b', lambda a, b: a + b, (1.37, -0.61)),
    ('a + number', lambda a: a + 2.5, (1.37,)),
    ('a * b', lambda a, b: a * b, (1.37, -0.61)),
    ('a * number', lambda a: a * -3.0, (1.37,)),
    ('a / number', lambda a: a / 0.8, (1.37,)),
    ('a / int', lambda a: a / 3, (1.37,)),
    ('a ** 2', lambda a: a ** 2, (-1.37,)),
    ('a ** 3', lambda a: a ** 3, (-0.83,)),
    ('a ** 0', lambda a: a ** 0, (1.37,)),
    ('a ** 1', lambda a: a ** 1, (1.37,)),
    ('a ** -1', lambda a: a ** -1, (-0.74,)),
    ('a ** -2', lambda a: a ** -2, (0.74,)),
    ('a ** 0.5', lambda a: a ** 0.5, (0.74,)),
    ('a ** 1.5', lambda a: a ** 1.5, (1.37,)),
    ('a ** -0.5', lambda a: a ** -0.5, (0.74,)),
    ('a ** -2.5', lambda a: a ** -2.5, (0.91,)),
    ('-a', lambda a: -a, (1.37,)),
    ('log(a)', lambda a: log(a), (0.63,)),
    ('log(a) large', lambda a: log(a), (17.0,)),
    ('a * b ** -1, both negative', lambda a, b: a * b ** -1, (-1.1, -0.45)),
    ('a * b + a ** -1 * 3 + -(b ** 2)', lambda a, b: a * b + a ** -1 * 3.0 + -(b ** 2), (0.9, 1.4)),
]
OP_IDS = [name for name, _, _ in OPS]


@pytest.mark.parametrize('name, fn, point', OPS, ids=OP_IDS)
def test_op_gradient_matches_finite_differences(name, fn, point):
    """backward() gives each input the derivative that finite differences measure."""
    check_gradients(lambda vs: fn(*vs), point)


@pytest.mark.parametrize('name, fn, point', OPS, ids=OP_IDS)
def test_op_forward_value_matches_float_math(name, fn, point):
    """Each op computes the same number as plain float arithmetic."""
    expected = fn(*point)
    got = fn(*[Value(x) for x in point])
    assert isinstance(got, Value)
    assert got.data == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize('expression', [
    lambda a: a - a, lambda a: 2.0 * a, lambda a: a / a,
    lambda a: 1.0 / a, lambda a: a ** a, lambda a: 1.0 - a, lambda a: 1.0 + a,
], ids=['a - b', 'number * a', 'a / b', 'number / a', 'a ** b', 'number - a', 'number + a'])
def test_an_operation_a_value_does_not_have_is_an_error_not_a_wrong_number(expression):
    """What the engine leaves out raises TypeError, rather than being computed
    without its gradient."""
    with pytest.raises(TypeError):
        expression(Value(2.0))


# --- a Value used more than once ------------------------------------------

def test_gradient_accumulates_over_repeated_use():
    """For f(a) = a*a + a, the gradient is 2a + 1: every use of a contributes."""
    a = Value(1.7)
    f = a * a + a
    f.backward()
    assert a.grad == pytest.approx(2 * 1.7 + 1, rel=1e-12)
    check_gradients(lambda vs: vs[0] * vs[0] + vs[0], [1.7])


@pytest.mark.parametrize('fn, expected', [
    (lambda a: a + a, lambda x: 2.0),
    (lambda a: a + -a, lambda x: 0.0),
    (lambda a: a * a, lambda x: 2 * x),
    (lambda a: a * a ** -1, lambda x: 0.0),
    (lambda a: a * a * a + a / -2.0, lambda x: 3 * x * x - 0.5),
], ids=['a+a', 'a-a', 'a*a', 'a/a', 'a*a*a-a/2'])
def test_same_value_on_both_sides_of_an_op(fn, expected):
    """The same object as both operands gets both contributions."""
    a = Value(1.3)
    fn(a).backward()
    assert a.grad == pytest.approx(expected(1.3), abs=1e-12)
    check_gradients(lambda vs: fn(vs[0]), [1.3])


def test_shared_subexpression_in_several_branches():
    """A node feeding several later nodes passes on the sum of their gradients."""
    def build(vs):
        a, b, c = vs
        s = a * b + c          # used four times below
        return s ** 3 + s * s + -(log(s) * a) + s * b ** -1
    check_gradients(build, [0.7, 1.3, 0.4])


def test_a_chain_deeper_than_pythons_default_recursion_limit():
    """A graph 3,000 nodes deep (three times Python's default recursion
    limit of 1,000) still gets correct gradients."""
    depth = 1500   # two nodes per turn
    def build(vs):
        x, = vs
        y = x
        for _ in range(depth):
            y = y * 0.999 + x * 0.001
        return y
    # y_n = x for every n, so dy/dx = 1 exactly (up to rounding).
    try:
        grads = check_gradients(build, [0.8])
    except RecursionError:
        grads = None   # fails below, without a traceback thousands of frames long
    assert grads is not None, 'backward() ran out of recursion'
    assert grads[0] == pytest.approx(1.0, abs=1e-9)


def test_backward_of_a_leaf_sets_its_own_gradient():
    """A lone Value's gradient with respect to itself is 1."""
    a = Value(3.0)
    a.backward()
    assert a.grad == 1.0


def test_a_leaf_that_backward_was_called_on_can_still_be_used():
    """backward() on a lone Value has no graph to free; the Value is still a
    leaf like any other, and a later graph that uses it backpropagates into it."""
    a = Value(3.0)
    a.backward()
    a.grad = 0.0
    (a * a).backward()
    assert a.grad == 6.0


# --- vsum --------------------------------------------------------------------

def test_vsum_gradient_and_value():
    """vsum adds its inputs; each input's gradient is the output's."""
    xs = [0.3, -1.2, 2.5, 0.05]
    check_gradients(lambda vs: vsum(vs) * vsum(vs), xs)
    assert vsum([Value(x) for x in xs]).data == pytest.approx(math.fsum(xs), rel=1e-15)


def test_vsum_adds_left_to_right_like_a_chain_of_additions():
    """Bit for bit the number a chain of + nodes gives (floats are not associative)."""
    xs = [1e16, 1.0, -1e16, 3.0, 1e-3]
    chain = Value(0.0)
    for x in xs:
        chain = chain + Value(x)
    assert vsum([Value(x) for x in xs]).data == chain.data


def test_vsum_with_repeated_and_intermediate_inputs():
    """An input listed twice counts twice; intermediate nodes pass gradient on."""
    def build(vs):
        a, b = vs
        return vsum([a, a, b, a * b, a ** 3]) ** 2
    grads = check_gradients(build, [0.6, -0.9])
    assert grads[0] != 0.0


def test_vsum_of_nothing_is_zero():
    assert vsum([]) == 0.0
    assert vsum([Value(2.5)]).data == 2.5


# --- dot -----------------------------------------------------------------------

def _split(vs, n):
    return vs[:n], vs[n:]


def test_dot_gradient_and_value():
    """dot(a, b) = sum a_i b_i, with the right gradient for every element of both."""
    rng = random.Random(1)
    xs = [rng.uniform(-2, 2) for _ in range(10)]
    def build(vs):
        a, b = _split(vs, 5)
        return dot(a, b)
    check_gradients(build, xs)
    value = dot([Value(x) for x in xs[:5]], [Value(x) for x in xs[5:]]).data
    assert value == pytest.approx(math.fsum(x * y for x, y in zip(xs[:5], xs[5:])), rel=1e-12)


def test_dot_of_a_vector_with_itself():
    """dot(x, x) = |x|^2: each element's gradient is 2 x_i (both slots count)."""
    xs = [0.5, -1.5, 2.0]
    grads = check_gradients(lambda vs: dot(vs, vs), xs)
    assert grads == pytest.approx([2 * x for x in xs], rel=1e-12)
    # The same tuple object in both slots, too.
    grads = check_gradients(lambda vs: (lambda t: dot(t, t))(tuple(vs)), xs)
    assert grads == pytest.approx([2 * x for x in xs], rel=1e-12)


def test_dot_of_vectors_sharing_some_elements():
    """dot(a, b) where some Values sit in both a and b."""
    def build(vs):
        x0, x1, x2, x3 = vs
        return dot([x0, x1, x2], [x2, x0, x3])   # x0*x2 + x1*x0 + x2*x3
    grads = check_gradients(build, [0.4, -1.1, 1.7, 0.9])
    assert grads[0] == pytest.approx(1.7 + -1.1, rel=1e-12)


def test_one_vector_feeding_many_dot_products():
    """A vector object reused by several dot nodes gets the gradient of all of them."""
    def build(vs):
        t = tuple(vs[0:3])
        u, w = vs[3:6], vs[6:9]
        return dot(t, u) * dot(t, w) + dot(w, t) + -(dot(u, t) ** 2)
    rng = random.Random(2)
    check_gradients(build, [rng.uniform(-1.5, 1.5) for _ in range(9)])


def test_nested_dot_products_with_intermediate_elements():
    """Vectors of computed nodes, themselves fed by dots of the same vectors."""
    def build(vs):
        x0, x1, x2, x3 = vs
        t = (x0 * x1, x2 ** 2, x3 + x0)
        y = dot(t, (x1, x2, x3))
        t2 = (y, t[0], x1 * 2.0)
        z = dot(t2, t) + dot(t2, t2)
        return dot((z, y, t[2]), t) / 10.0
    check_gradients(build, [0.3, -0.8, 0.5, 1.1])


def test_dot_vector_reused_below_the_other_vector():
    """D = dot(a, (w,)) with w = dot(a, (c,)): vector a is an input of D, and
    also of w, which sits below D's other vector. The sort must not take a as
    searched before it has really been searched, or u (in a) would pass its
    gradient on before w has added its share."""
    def build(xs):
        p, c = xs
        u = p * 2
        a = (u,)
        w = dot(a, (c,))
        return dot(a, (w,))
    check_gradients(build, [1.5, 0.7])


# --- softmax, rmsnorm, linear ----------------------------------------------

def test_softmax_full_jacobian():
    """Every output of softmax against every input."""
    zs = [0.4, -1.3, 2.1, 0.0, 0.7]
    for j in range(len(zs)):
        check_gradients(lambda vs, j=j: softmax(vs)[j], zs)


def test_softmax_of_a_weighted_loss():
    """A typical use: -log p_target plus a weighted sum of the probabilities."""
    zs = [1.2, -0.4, 0.3, 2.2]
    check_gradients(lambda vs: -log(softmax(vs)[2]) + dot(softmax(vs), vs), zs)


def test_softmax_of_one_token_is_that_probability():
    """softmax(z, only=i) is softmax(z)[i], to the bit, with the same gradient."""
    zs = [0.4, -1.3, 2.1, 0.0, 0.7]
    for i in range(len(zs)):
        assert softmax(zs, only=i) == softmax(zs)[i]
        assert softmax([Value(z) for z in zs], only=i).data == softmax(zs)[i]
        check_gradients(lambda vs, i=i: softmax(vs, only=i).log(), zs)


def test_softmax_values():
    """Probabilities are positive, sum to 1 and match exp(z_i) / sum exp(z)."""
    zs = [0.4, -1.3, 2.1, 0.0, 0.7]
    probs = [p.data for p in softmax([Value(z) for z in zs])]
    total = math.fsum(math.exp(z) for z in zs)
    assert probs == pytest.approx([math.exp(z) / total for z in zs], rel=1e-12)
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-15)


def test_softmax_does_not_overflow_on_large_scores():
    """Scores of +-1000 give finite, correct probabilities and gradients."""
    zs = [1000.0, 999.0, -1000.0]
    for probs in ([p.data for p in softmax([Value(z) for z in zs])], softmax(zs)):
        expected_top = 1 / (1 + math.exp(-1.0))
        assert probs[0] == pytest.approx(expected_top, rel=1e-12)
        assert probs[1] == pytest.approx(1 - expected_top, rel=1e-12)
        assert probs[2] == 0.0
    check_gradients(lambda vs: softmax(vs)[0], zs)


def test_rmsnorm_full_jacobian():
    """Every output of rmsnorm against every input."""
    xs = [0.5, -1.2, 0.8, 2.0, -0.3]
    for j in range(len(xs)):
        check_gradients(lambda vs, j=j: rmsnorm(vs)[j], xs)


def test_rmsnorm_values():
    """The output is x / sqrt(mean(x^2) + 1e-5), so its mean square is just under 1."""
    xs = [0.5, -1.2, 0.8, 2.0, -0.3]
    ms = math.fsum(x * x for x in xs) / len(xs)
    for ys in ([y.data for y in rmsnorm([Value(x) for x in xs])], rmsnorm(xs)):
        assert ys == pytest.approx([x / math.sqrt(ms + 1e-5) for x in xs], rel=1e-12)
        assert math.fsum(y * y for y in ys) / len(ys) == pytest.approx(ms / (ms + 1e-5), rel=1e-12)


def test_rmsnorm_of_zeros_is_finite():
    """The 1e-5 keeps an all-zero vector from dividing by zero."""
    assert [y.data for y in rmsnorm([Value(0.0) for _ in range(4)])] == [0.0] * 4
    assert rmsnorm([0.0] * 4) == [0.0] * 4


def matrix_of(numbers):
    return as_matrix(tuple(Value(x) for x in row) for row in numbers)


def as_matrix(rows):
    """A Matrix of rows of Values, with its float copy taken (as GPT.new_cache does)."""
    w = Matrix(rows)
    w.refresh()
    return w


def test_linear_gradient_and_value():
    """linear(x, w) is w times x, with gradients for x and every weight."""
    rng = random.Random(3)
    rows, cols = 3, 4
    xs = [rng.uniform(-1, 1) for _ in range(cols + rows * cols)]

    def build(vs):
        x, flat = vs[:cols], vs[cols:]
        w = as_matrix(tuple(flat[r * cols:(r + 1) * cols]) for r in range(rows))
        out = linear(x, w)
        return dot(out, out) + out[0]
    check_gradients(build, xs)

    x = xs[:cols]
    w = [xs[cols + r * cols: cols + (r + 1) * cols] for r in range(rows)]
    expected = [math.fsum(a * b for a, b in zip(row, x)) for row in w]
    got = linear([Value(v) for v in x], matrix_of(w))
    assert [g.data for g in got] == pytest.approx(expected, rel=1e-12)
    assert linear(x, matrix_of(w)) == pytest.approx(expected, rel=1e-12)


def test_mlp_gradient_and_value():
    """fc2 relu(fc1 x), with units on and off: the ones that are off pass no
    gradient back, to x or to their row of fc1, and leaving them out of fc2's
    products changes no bit of its value."""
    rows, cols = 6, 3
    x0 = [0.9, -0.4, 0.3]
    rng = random.Random(4)
    w0 = [[rng.uniform(-1, 1) for _ in range(cols)] for _ in range(rows)]
    w2 = [[rng.uniform(-1, 1) for _ in range(rows)] for _ in range(2)]
    # Keep every unit clear of the kink at 0, so finite differences see one side.
    pre = [sum(a * b for a, b in zip(row, x0)) for row in w0]
    assert min(abs(h) for h in pre) > 0.05 and any(h < 0 for h in pre) and any(h > 0 for h in pre)
    n1 = rows * cols

    def build(vs):
        x, flat1, flat2 = vs[:cols], vs[cols:cols + n1], vs[cols + n1:]
        fc1 = as_matrix(tuple(flat1[r * cols:(r + 1) * cols]) for r in range(rows))
        fc2 = as_matrix(tuple(flat2[r * rows:(r + 1) * rows]) for r in range(2))
        out = mlp(x, fc1, fc2)
        return dot(out, out) + out[0]
    grads = check_gradients(build, x0 + [v for row in w0 for v in row] + [v for row in w2 for v in row])
    for r, h in enumerate(pre):
        fc1_row = grads[cols + r * cols: cols + (r + 1) * cols]
        fc2_column = [grads[cols + n1 + i * rows + r] for i in range(2)]
        assert (h > 0) == any(g != 0.0 for g in fc1_row) == any(g != 0.0 for g in fc2_column), r

    # Every term there, on plain floats: the same numbers, bit for bit.
    full = [math.fsum(a * max(0.0, h) for a, h in zip(row, pre)) for row in w2]
    on_values = mlp([Value(v) for v in x0], matrix_of(w0), matrix_of(w2))
    on_floats = mlp(x0, matrix_of(w0), matrix_of(w2))
    assert [y.data for y in on_values] == on_floats == pytest.approx(full, rel=1e-12)


@pytest.mark.parametrize('x0', [[1.37, -0.61], [-0.3, -2.0], [0.5, 4.0]],
                         ids=['mixed', 'all off', 'all on'])
def test_mlp_with_units_all_off_or_all_on(x0):
    """fc1 the identity, so the units are x itself. With every unit off, the
    MLP's output is constants, which the residual (a Value) + takes."""
    fc1 = matrix_of([[1.0, 0.0], [0.0, 1.0]])
    fc2 = matrix_of([[1.0, 2.0], [0.5, -1.5]])

    def build(vs):
        out = mlp(vs, fc1, fc2)
        residual = [vs[0] * 0.25, vs[-1] * -0.5]
        return vsum([r + o for r, o in zip(residual, out)])
    check_gradients(build, x0)
    units = [max(0.0, x) for x in x0]
    expected = [sum(a * u for a, u in zip(row, units)) for row in fc2.numbers]
    assert mlp(x0, fc1, fc2) == expected
    on_values = mlp([Value(x) for x in x0], fc1, fc2)
    if any(x > 0 for x in x0):
        assert [y.data for y in on_values] == expected
    else:
        assert on_values == [0.0, 0.0]


def test_a_matrix_cut_to_some_columns_keeps_its_weights_and_their_float_copy():
    w = matrix_of([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    cut = w.columns([0, 2])
    assert cut.numbers == [[1.0, 3.0], [4.0, 6.0]]
    assert [[p is q for p, q in zip(row, (r[0], r[2]))] for row, r in zip(cut, w)] == [[True] * 2] * 2


def test_a_matrix_multiplies_with_the_weights_it_had_at_its_last_refresh():
    """The float copy is what linear() reads; refresh() brings it up to date."""
    w = matrix_of([[1.0, 2.0], [3.0, 4.0]])
    assert w.numbers == [[1.0, 2.0], [3.0, 4.0]]
    w[1][0].data = 10.0
    assert [v.data for v in linear([Value(1.0), Value(1.0)], w)] == [3.0, 7.0]
    w.refresh()
    assert w.numbers == [[1.0, 2.0], [10.0, 4.0]]
    assert [v.data for v in linear([Value(1.0), Value(1.0)], w)] == [3.0, 14.0]
    assert linear([1.0, 1.0], w) == [3.0, 14.0]


# --- topological order and graph pruning -------------------------------------

def test_topological_order_lists_each_node_after_its_inputs():
    """Every non-leaf node appears once, after every non-leaf node it was computed from."""
    a, b, c = Value(0.5), Value(-1.0), Value(2.0)
    s = a * b
    t = (s, c, a)
    d = dot(t, (c, s, b))
    u = s ** 2 + d
    root = u * s + vsum([d, u, a])
    inputs = {s: [], d: [s], u: [s, d], root: [u, s, d]}   # non-leaf inputs only
    order = topological_order(root)
    assert len(order) == len(set(map(id, order)))
    position = {id(node): i for i, node in enumerate(order)}
    for node, deps in inputs.items():
        assert id(node) in position
        for dep in deps:
            assert position[id(dep)] < position[id(node)]
    assert order[-1] is root
    assert not any(node is a or node is b or node is c for node in order)


@cpython_only
def test_backward_frees_intermediate_nodes_by_reference_counting():
    """After backward, an intermediate node is freed at once: no collector needed."""
    with gc_disabled():
        a, b = Value(1.5), Value(-0.5)
        before = live_values()
        loss = (a * b + a).log() * 2.0   # three nodes below the loss
        assert live_values() == before + 4, 'the graph must keep its nodes alive until backward'
        loss.backward()
        assert live_values() == before + 1, 'backward left intermediate nodes alive'
        # The leaves are not part of what is freed, and hold their gradients.
        assert a.grad != 0.0 and b.grad != 0.0


def test_backward_leaves_the_output_node_without_children():
    """The node backward() was called on lets go of its inputs."""
    a = Value(2.0)
    loss = vsum([a * a, dot((a,), (a,)), a.log()])
    loss.backward()
    assert not loss._children
    assert loss.data == pytest.approx(8.0 + math.log(2.0))


@cpython_only
def test_backward_frees_every_node_of_an_expression_graph():
    """Every node below the output is gone after backward (gc disabled): only
    the leaves and the output itself are left."""
    with gc_disabled():
        xs = [Value(0.1 * i + 0.3) for i in range(6)]
        fc1 = matrix_of([[(-1) ** (r + c) * 0.5 for c in range(6)] for r in range(4)])
        fc2 = matrix_of([[0.3 * (r - c) for c in range(4)] for r in range(2)])
        before = live_values()
        h = [x * x + 1.0 for x in xs]
        y = dot(tuple(h), xs) + vsum(softmax(h)) + rmsnorm(xs)[2] + mlp(xs, fc1, fc2)[0]
        nodes = len(topological_order(y))
        del h
        assert nodes > 30 and live_values() >= before + nodes
        assert gc.isenabled() is False
        y.backward()
        assert live_values() == before + 1


def test_backward_through_a_freed_shared_subgraph_raises():
    """A second backward that runs into a graph an earlier backward freed is an error.

    Treating the freed node as a leaf would silently give a zero gradient.
    """
    a = Value(2.0)
    b = a * a
    (b * 3).backward()
    with pytest.raises(RuntimeError, match='already run through'):
        (b + 1).backward()
    with pytest.raises(RuntimeError, match='already run through'):
        b.backward()


def test_a_branch_whose_gradient_is_zero_changes_no_gradient():
    """A node whose gradient is exactly 0 passes 0s on; the inputs it shares
    with live branches get exactly the live branches' share."""
    def build(vs):
        a, b = vs
        dead = (a * b + 1.0) * 0.0            # its gradient is exactly 0
        live = (a * b) ** 3 + a * 3.0
        return dead * a + live
    check_gradients(build, [0.8, 1.1])
