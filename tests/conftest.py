"""Shared helpers for the microgpt test suite.

microgpt is a single script, not an installed package, so the repository root
is put on sys.path here and the tests simply `import microgpt`.

No test depends on how fast the machine is: there are no timed sleeps and no
limits on elapsed time. The timeouts given to subprocesses are only a safety
net against a hang, far above what any run needs on a loaded machine.
"""

import contextlib
import gc
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / 'microgpt.py'
INPUT = REPO / 'input.txt'   # the names the program trains on by default
# The classic names data set lives outside the repository and may be absent.
NAMES = REPO.parent / 'shared' / 'data' / 'names.txt'

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import microgpt  # noqa: E402

CPYTHON = sys.implementation.name == 'cpython'

# Tests that check that backward() frees the graph count the Values alive
# (live_values) and expect the graph's nodes gone the moment nothing holds
# them. Only reference counting frees an object at that moment; PyPy has
# none, and frees objects only when its garbage collector runs, so there a
# freed node can stay alive for a while and the test would say nothing true
# about the code.
cpython_only = pytest.mark.skipif(
    not CPYTHON,
    reason='checks that objects are freed the moment nothing holds them, which only '
           "CPython's reference counting does; PyPy frees them later, when its collector runs")

# A small fixed corpus over five letters: quick to train on, and regular enough
# (short words, few letters, lots of repetition) that a tiny model learns it.
TINY_WORDS = [
    'ana', 'anna', 'ben', 'bea', 'nan', 'ean', 'bab', 'ebb', 'nab', 'bane',
    'bean', 'nene', 'abe', 'ebba', 'anne', 'bena', 'neb', 'aba', 'ena', 'bebe',
    'nana', 'babe', 'ane', 'bae', 'dana', 'dean', 'eden', 'dee', 'bede', 'nada',
]

# Model knobs that keep command-line runs fast.
TINY_KNOBS = ['--n-embd', '8', '--n-head', '2', '--block-size', '8']


def tiny_config(**overrides):
    """A small model configuration that trains in milliseconds per step."""
    settings = dict(n_layer=1, n_embd=8, n_head=2, block_size=8)
    settings.update(overrides)
    return microgpt.Config(**settings)


def make_model(docs, seed=0, **overrides):
    """(model, tokenizer, config) for docs, with weights drawn from Random(seed)."""
    config = tiny_config(**overrides)
    tokenizer = microgpt.Tokenizer(docs)
    model = microgpt.GPT(config, tokenizer.vocab_size, random.Random(seed))
    return model, tokenizer, config


def adam_for(model, config):
    return microgpt.Adam(model.params, config.beta1, config.beta2, config.eps)


def weights(model):
    """Every parameter's value, in order."""
    return [p.data for p in model.params]


def live_values():
    """How many Values exist right now.

    A Value holds references, so CPython's cycle collector keeps track of
    every one from its creation until it is freed, and gc.get_objects() lists
    them all. (Value has no __weakref__ slot, so weak references cannot watch
    single nodes.)
    """
    return sum(1 for obj in gc.get_objects() if type(obj) is microgpt.Value)


@contextlib.contextmanager
def gc_disabled():
    """Switch the cycle collector off, so only reference counting can free objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def script_env():
    env = dict(os.environ)
    env['PYTHONIOENCODING'] = 'utf-8'   # decode samples the same way everywhere
    env.pop('PYTHONSTARTUP', None)
    return env


def run_script(*args, input=None, cwd=None, timeout=600, python=None):
    """Run microgpt.py in a fresh interpreter; return the CompletedProcess, its
    output decoded (strictly) from UTF-8.

    Standard input holds `input` (bytes), or nothing, so no run ever waits on
    a terminal.
    """
    result = subprocess.run(
        [python or sys.executable, '-B', str(SCRIPT), *[str(a) for a in args]],
        cwd=cwd, env=script_env(), capture_output=True, timeout=timeout,
        input=b'' if input is None else input)
    result.stdout = result.stdout.decode('utf-8')
    result.stderr = result.stderr.decode('utf-8')
    return result


def run_main(capsys, *args):
    """main() in this process: (exit code, stdout, stderr). Quicker than a
    fresh interpreter, for the runs whose point is not the process itself."""
    code = microgpt.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# --- pressing Ctrl-C without racing the program ------------------------------

@pytest.fixture
def python_ctrl_c():
    """SIGINT handled as Python handles it when started from a shell, however
    the test runner itself was started (a background job ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def press_ctrl_c_in_steps(monkeypatch, presses):
    """Make training press Ctrl-C presses[step] times within step `step`:
    SIGINT is sent to this process after the step's work and before the step
    is handed to the loop. Python runs the handler at once, in the main thread,
    before os.kill returns (every supported CPython and PyPy does), so each
    press lands in that step and no other."""
    real_train = microgpt.train

    def pressing_train(*args, **kwargs):
        for step, loss in real_train(*args, **kwargs):
            for _ in range(presses.get(step, 0)):
                os.kill(os.getpid(), signal.SIGINT)
            yield step, loss
    monkeypatch.setattr(microgpt, 'train', pressing_train)


# --- reading a run's output ----------------------------------------------------

PROGRESS = re.compile(r'^step +(\d+) / (\d+) \| loss (\d+\.\d{4}) \| \d+\.\d ms/step \| \d+:\d\d left$')
SAMPLE = re.compile(r'^sample +(\d+): (.*)  \((new|in the training data)\)$')
EMPTY_SAMPLE = re.compile(r'^sample +(\d+): \(empty: the model ended it at once\)$')
DOCUMENTS = re.compile(r'^([\d,]+) documents? in (.+): ([\d,]+) to train on, '
                       r'([\d,]+) held out for validation$')
TOKENS = re.compile(r'^(\d+) tokens \(([\d,]+) characters? \+ BOS\), ([\d,]+) parameters$')
VAL_LOSS = re.compile(r'^val loss (\d+\.\d{4}) \((before|after|no) training(?: in this run)?; '
                      r'per token, on (\d+) held-out documents?\)$', re.M)


def progress_lines(stdout):
    """(step, total, loss) for every progress line; every line that starts 'step' must match."""
    found = []
    for line in stdout.splitlines():
        if line.startswith('step'):
            match = PROGRESS.match(line)
            assert match, f'badly formatted progress line: {line!r}'
            found.append((int(match.group(1)), int(match.group(2)), float(match.group(3))))
    return found


def sample_lines(stdout):
    """(number, text) of every 'sample N: ...' line that holds a sample."""
    return [(int(m.group(1)), m.group(2))
            for m in map(SAMPLE.match, stdout.splitlines()) if m]


def tagged_samples(stdout):
    """(text, 'new' or 'in the training data') of every sample line."""
    return [(m.group(2), m.group(3)) for m in map(SAMPLE.match, stdout.splitlines()) if m]


def val_losses(stdout):
    """[(loss, 'before', 'after' or 'no' (training in this run), documents)]
    from the 'val loss' lines."""
    return [(float(loss), when, int(n)) for loss, when, n in VAL_LOSS.findall(stdout)]


def number(text):
    return int(text.replace(',', ''))


def header_counts(stdout):
    """(documents, tokens) from the lines that open a run."""
    lines = stdout.splitlines()
    documents = DOCUMENTS.match(lines[0])
    tokens = next(filter(None, map(TOKENS.match, lines)), None)
    assert documents and tokens, f'a run does not open with its counts:\n{stdout}'
    return number(documents.group(1)), int(tokens.group(1))


def assert_clean_success(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert 'Traceback' not in result.stdout


def assert_one_error_line(result, code=2):
    """Exit code `code`, and exactly one line on stderr, an error, with no traceback.

    Return that line.
    """
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr)
    assert 'Traceback' not in result.stderr and 'Traceback' not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('microgpt.py: error: '), lines[0]
    return lines[0]


def write_bytes(directory, name, data):
    """Write data (bytes, or str as UTF-8) to directory/name and return the path."""
    path = Path(directory) / name
    path.write_bytes(data.encode('utf-8') if isinstance(data, str) else data)
    return path


@pytest.fixture
def tiny_input(tmp_path):
    """A temporary input file holding TINY_WORDS, one per line."""
    return write_bytes(tmp_path, 'words.txt', '\n'.join(TINY_WORDS) + '\n')


@pytest.fixture
def names_path():
    """The classic names file; tests that need it skip when it is absent."""
    if not NAMES.is_file():
        pytest.skip(f'classic names file not found at {NAMES}')
    return NAMES
