"""The command line, end to end: a normal run, --help, reading the input
(files, standard input, odd text, unbounded input), and every way a run can
go wrong, each of which ends in one line on stderr, never a traceback."""

import gc
import io
import json
import os
import re
import resource
import subprocess
import sys

import pytest

import microgpt
from microgpt import Config, InputError, read_docs, read_input
from conftest import (REPO, SCRIPT, TINY_KNOBS, TINY_WORDS, assert_clean_success,
                      assert_one_error_line, header_counts, progress_lines, run_main, run_script,
                      sample_lines, script_env, val_losses, write_bytes)


# --- a normal run ---------------------------------------------------------------

def test_short_run_prints_progress_and_samples(tiny_input):
    """--steps 20 --samples 3: exit 0, well-formed progress up to step 20, exactly 3 samples."""
    result = run_script('--input', tiny_input, '--steps', 20, '--samples', 3)
    assert_clean_success(result)
    progress = progress_lines(result.stdout)
    steps = [step for step, _, _ in progress]
    assert steps == list(range(1, 21))
    assert all(total == 20 for _, total, _ in progress)
    assert all(0 < loss < 10 for _, _, loss in progress)
    samples = sample_lines(result.stdout)
    assert [n for n, _ in samples] == [1, 2, 3]
    alphabet = set(''.join(TINY_WORDS))
    assert all(set(text) <= alphabet for _, text in samples)
    # Every document is counted, though 20 steps read only 20 of the 27.
    assert header_counts(result.stdout) == (len(TINY_WORDS), len(alphabet) + 1)


def test_zero_samples_prints_none(tiny_input, capsys):
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 2, '--samples', 0,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert sample_lines(out) == [] and '--- ' not in out
    assert progress_lines(out)[-1][:2] == (2, 2)


def test_runs_are_reproducible_from_the_seed(tiny_input):
    """The same --seed twice gives the same output; another seed, other samples."""
    def run(seed):
        result = run_script('--input', tiny_input, '--steps', 15, '--samples', 6,
                            '--temperature', 1.0, '--seed', seed, *TINY_KNOBS)
        assert_clean_success(result)
        return progress_lines(result.stdout), sample_lines(result.stdout)
    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert len(first[1]) == 6
    assert other[1] != first[1]


def test_input_file_is_never_modified(tiny_input, tmp_path):
    """A run leaves the input's bytes, mtime and directory untouched, and so
    does one that saves its model elsewhere."""
    def state():
        return (tiny_input.read_bytes(), os.stat(tiny_input).st_mtime_ns,
                sorted(os.listdir(tiny_input.parent)))
    (tmp_path / 'elsewhere').mkdir()
    before = state()
    result = run_script('--input', tiny_input, '--steps', 5, '--samples', 2, *TINY_KNOBS)
    assert_clean_success(result)
    assert state() == before
    result = run_script('--input', tiny_input, '--steps', 5, '--samples', 0,
                        '--save', tmp_path / 'elsewhere' / 'm.json', *TINY_KNOBS)
    assert_clean_success(result)
    assert state() == before


def test_main_returns_exit_codes_in_process(tiny_input, tmp_path, capsys):
    """main(argv) returns 0 after a run and 2 on bad input, leaving the collector on."""
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 2, '--samples', 1,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert len(sample_lines(out)) + out.count('(empty: ') == 1
    assert gc.isenabled()
    code, out, err = run_main(capsys, '--input', tmp_path / 'absent.txt')
    assert code == 2 and out == ''
    assert len(err.splitlines()) == 1 and 'absent.txt' in err
    assert gc.isenabled()


# --- --help ---------------------------------------------------------------------

def help_entries(text):
    """{'--option': 'its help text, whitespace normalised'} from argparse's --help."""
    entries, current = {}, None
    for line in text.splitlines():
        match = re.match(r'^  (?:-\w, )?(--[\w-]+)', line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current and line.startswith('    '):
            entries[current] += ' ' + line
        else:
            current = None
    return {name: ' '.join(body.split()) for name, body in entries.items()}


KNOB_DEFAULTS = {
    '--steps': Config.steps, '--batch-size': Config.batch_size, '--seed': Config.seed,
    '--temperature': Config.temperature, '--samples': Config.num_samples,
    '--n-embd': Config.n_embd, '--n-head': Config.n_head, '--n-layer': Config.n_layer,
    '--block-size': Config.block_size, '--lr': Config.learning_rate, '--beta1': Config.beta1,
    '--beta2': Config.beta2, '--eps': Config.eps, '--init-std': Config.init_std,
    '--val-docs': 200, '--top-k': 'off', '--top-p': 'off',
}


def test_help_lists_every_knob_with_its_default():
    """--help exits 0 and shows each option with the default a run really uses."""
    result = run_script('--help')
    assert_clean_success(result)
    assert result.stdout.startswith('usage: microgpt.py ')
    entries = help_entries(result.stdout)
    missing = (set(KNOB_DEFAULTS) | {'--input', '--prefix', '--save', '--load', '--explain'}) \
        - set(entries)
    assert not missing, f'not in --help: {sorted(missing)}'
    for option, default in KNOB_DEFAULTS.items():
        assert f'(default: {default})' in entries[option], entries[option]
    assert 'default' in entries['--input'] and 'input.txt' in entries['--input']
    assert "'-'" in entries['--input']


def test_the_default_validation_documents_are_the_ones_help_names(tmp_path, capsys):
    words = [a + b for a in 'abcdefghijklmnopqrst' for b in 'aeiouy'] * 20   # 2,400
    path = write_bytes(tmp_path, 'many.txt', '\n'.join(words) + '\n')
    code, out, err = run_main(capsys, '--input', path, '--steps', 1, '--samples', 0, *TINY_KNOBS)
    assert code == 0, err
    assert [n for _, _, n in val_losses(out)] == [200, 200]


def test_help_fits_80_columns_off_a_terminal():
    """Captured, standard output is no terminal: --help is laid out for 80 columns."""
    result = run_script('--help')
    assert_clean_success(result)
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 78, max(lines, key=len)
    assert max(len(line) for line in lines) >= 70   # it does use the width


def test_help_takes_the_terminal_width_and_80_for_a_terminal_of_0(monkeypatch):
    for columns, widest in ((60, 58), (0, 78)):
        monkeypatch.setattr(os, 'get_terminal_size', lambda *_: os.terminal_size((columns, 24)))
        lines = microgpt.make_parser().format_help().splitlines()
        assert max(len(line) for line in lines) <= widest
        assert max(len(line) for line in lines) >= widest - 10


def test_the_command_line_does_not_import_shutil():
    """argparse's own width lookup would import shutil (with zlib, bz2 and lzma).
    -S -s -E: no site packages, whose start-up files may import it themselves."""
    code = ('import sys, microgpt; microgpt.parse_args(["--steps", "3", "--top-k", "2"]); '
            'print(sorted(m for m in ("shutil", "zlib", "bz2", "lzma") if m in sys.modules))')
    result = subprocess.run([sys.executable, '-S', '-s', '-E', '-B', '-c', code], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'


def test_help_is_an_option_not_a_value():
    """-h and --help ask for help; a value '-h' is not taken for help."""
    for flag in ('-h', '--help'):
        assert run_script(flag).stdout.startswith('usage:')
    result = run_script('--steps', 2, '--prefix', '-h')
    line = assert_one_error_line(result)
    assert '--prefix' in line
    assert 'usage' not in result.stdout


# --- bad input: one line, exit code 2 ----------------------------------------

def _file(name, data):
    return lambda tmp: ['--input', write_bytes(tmp, name, data)]


def _dir(tmp):
    (tmp / 'a_directory').mkdir()
    return ['--input', tmp / 'a_directory']


def _knobs(*args):
    return lambda tmp: ['--input', write_bytes(tmp, 'ok.txt', 'anna\nbob\n'), *args]


# (id, arguments given a temp dir, words the one error line must contain, any case)
BAD_INPUTS = [
    ('missing file', lambda tmp: ['--input', tmp / 'no_such_file.txt'], ['no_such_file.txt']),
    ('directory', _dir, ['a_directory', 'directory']),
    ('empty file', _file('empty.txt', b''), ['empty.txt', 'no documents']),
    ('blank-only file', _file('blank.txt', b'  \n\n \t \r\n   \n'), ['blank.txt', 'no documents']),
    ('undecodable bytes', _file('bad.txt', b'\xff\xfe\xfa'), ['bad.txt', 'utf-8']),
    ('undecodable line 3', _file('latin.txt', b'anna\nbob\ncaf\xe9\n'),
     ['latin.txt', 'utf-8', 'line 3']),
    ('empty input path', lambda tmp: ['--input='], ['--input needs a path']),
    ('steps -1', _knobs('--steps', '-1'), ['--steps']),
    ('steps too many', _knobs('--steps', '1000000001'), ['--steps', '1,000,000,000']),
    ('temperature 0', _knobs('--temperature', '0'), ['--temperature']),
    ('temperature -1', _knobs('--temperature', '-1'), ['--temperature']),
    ('temperature nan', _knobs('--temperature', 'nan'), ['--temperature']),
    ('temperature inf', _knobs('--temperature', 'inf'), ['--temperature']),
    ('samples -1', _knobs('--samples', '-1'), ['--samples']),
    ('n-embd not divisible by n-head', _knobs('--n-embd', '10', '--n-head', '4'),
     ['--n-embd', '--n-head']),
    ('n-head 0', _knobs('--n-head', '0'), ['--n-head']),
    ('n-layer 0', _knobs('--n-layer', '0'), ['--n-layer']),
    ('block-size 0', _knobs('--block-size', '0'), ['--block-size']),
    ('n-embd 0', _knobs('--n-embd', '0'), ['--n-embd']),
    ('n-embd too large', _knobs('--n-embd', '100000', '--n-head', '1'), ['--n-embd', 'memory']),
    ('lr 0', _knobs('--lr', '0'), ['--lr']),
    ('lr inf', _knobs('--lr', 'inf'), ['--lr']),
    ('beta1 1', _knobs('--beta1', '1'), ['--beta1']),
    ('beta2 -0.1', _knobs('--beta2', '-0.1'), ['--beta2']),
    ('eps 0', _knobs('--eps', '0'), ['--eps']),
    ('init-std -1', _knobs('--init-std', '-1'), ['--init-std']),
    ('non-numeric steps', _knobs('--steps', 'ten'), ['--steps', 'ten']),
    ('unknown option', _knobs('--n-embed', '8'), ['--n-embed']),
    ('option without its value', _knobs('--steps'), ['--steps']),
    ('val-docs -1', _knobs('--val-docs', '-1'), ['--val-docs']),
    ('prefix with unknown characters', _knobs('--prefix', 'Zanq'), ['--prefix', "'z', 'q'"]),
    ('prefix too long for the context', _knobs('--prefix', 'anna', '--block-size', '4'),
     ['--prefix', '--block-size 4', 'at most 3']),
    ('explain empty', _knobs('--explain='), ['--explain']),
    ('load a missing model', lambda tmp: _knobs('--load', tmp / 'no_model.json')(tmp),
     ['--load', 'no_model.json', 'no such file']),
]


@pytest.mark.parametrize('make_args, words', [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_one_error_line_and_exit_code_2(tmp_path, make_args, words, capsys):
    """Each problem: exit code 2, exactly one stderr line naming it, no traceback, no output.

    In this process, for speed: main() turns every InputError into that line."""
    code, out, err = run_main(capsys, *make_args(tmp_path))
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith('microgpt.py: error: ')
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert out == ''


@pytest.mark.parametrize('part', ['weights', 'adam.m', 'adam.v', 'adam.t', 'settings',
                                  'vocabulary', 'steps_done', 'random_state'])
def test_a_saved_model_with_a_part_missing_is_one_error_line(tiny_input, tmp_path, capsys, part):
    saved = tmp_path / 'model.json'
    code, _, err = run_main(capsys, '--input', tiny_input, '--steps', 1, '--samples', 0,
                            *TINY_KNOBS, '--save', saved)
    assert (code, err) == (0, '')
    state = json.loads(saved.read_text(encoding='utf-8'))
    *outer, key = part.split('.')
    holder = state
    for name in outer:
        holder = holder[name]
    del holder[key]
    saved.write_text(json.dumps(state), encoding='utf-8')
    code, out, err = run_main(capsys, '--input', tiny_input, '--load', saved)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith(f'microgpt.py: error: --load {saved}: ')


def test_bad_input_in_a_fresh_interpreter_is_one_line_too(tmp_path):
    """The same, end to end, for a few of them: no traceback reaches the terminal."""
    for args in (['--input', tmp_path / 'none.txt'], ['--steps', 'ten'], ['--n-embd', '0'],
                 ['--unknown']):
        result = run_script(*args)
        assert_one_error_line(result)
        assert result.stdout == ''


def test_file_problems_are_described(tmp_path):
    """The one line says what is wrong, not just that something is."""
    def error_for(path):
        with pytest.raises(InputError) as info:
            read_input(str(path))
        return str(info.value).lower()
    assert 'no such file' in error_for(tmp_path / 'gone.txt')
    assert 'directory' in error_for(tmp_path)
    message = error_for(write_bytes(tmp_path, 'u.txt', b'ok\n\xff\xfe\xfa\n'))
    assert 'utf-8' in message and 'line 2' in message and '0xff' in message


@pytest.mark.skipif(not os.path.exists('/proc/self/mem'), reason='needs Linux /proc')
def test_a_file_that_cannot_be_read_is_described():
    """/proc/self/mem opens, but reading it from its start fails (even for root)."""
    with pytest.raises(InputError, match=r'^/proc/self/mem: cannot read it \(.+\)$'):
        read_input('/proc/self/mem')


@pytest.mark.parametrize('data', [
    'jürgen\n'.encode('latin-1'),
    '\ufeffanna\nbob\n'.encode('utf-16'),
    b'anna\n\xc3\n',            # a truncated two-byte sequence
    b'\xef\xbb\xbf\xff\n',      # a BOM, then garbage
], ids=['latin-1', 'utf-16', 'truncated sequence', 'bom then garbage'])
def test_text_that_is_not_utf8_is_an_input_error(tmp_path, data):
    with pytest.raises(InputError, match='not UTF-8'):
        read_input(str(write_bytes(tmp_path, 'x.txt', data)))


def test_bad_byte_after_a_byte_order_mark_is_named_exactly(tmp_path):
    path = write_bytes(tmp_path, 'bom.txt', b'\xef\xbb\xbfab\xff\ncd\n')
    result = run_script('--input', path, '--steps', 2)
    assert assert_one_error_line(result) == \
        f'microgpt.py: error: {path}: line 1 is not UTF-8 text (byte 0xff)'


# --- odd but valid input ------------------------------------------------------

LONG_LINE = 'abcde' * 2000   # 10,000 characters

# (id, file bytes, the documents they hold)
ODD_INPUTS = [
    ('unicode', 'zoë\njürgen\n東京\n🙂🎉\nnaïve café\n'.encode('utf-8'),
     ['zoë', 'jürgen', '東京', '🙂🎉', 'naïve café']),
    ('crlf', b'anna\r\nbob\r\ncarl\r\n', ['anna', 'bob', 'carl']),
    ('lone cr', b'anna\rbob\rcarl', ['anna', 'bob', 'carl']),
    ('mixed endings', b'anna\r\nbob\rcarl\ndave', ['anna', 'bob', 'carl', 'dave']),
    ('utf-8 bom', b'\xef\xbb\xbfanna\nbob\n', ['anna', 'bob']),
    ('bom and crlf', '\ufeffzoë\r\n東京\r\n'.encode('utf-8'), ['zoë', '東京']),
    ('blank lines and spaces', b'\n\n  anna  \n\t bob\t\n   \n\r\n\ncarl \n\n',
     ['anna', 'bob', 'carl']),
    ('inner spaces kept', b'mary ann\n  jo  jo \n', ['mary ann', 'jo  jo']),
    ('single line, no newline', b'anna', ['anna']),
    ('very long line', (LONG_LINE + '\nanna\n').encode('utf-8'), [LONG_LINE, 'anna']),
]


@pytest.mark.parametrize('data, expected', [c[1:] for c in ODD_INPUTS],
                         ids=[c[0] for c in ODD_INPUTS])
def test_odd_input_is_read_exactly(tmp_path, data, expected):
    """Line endings and surrounding whitespace go, blank lines are skipped, the BOM is dropped."""
    assert read_docs(read_input(str(write_bytes(tmp_path, 'in.txt', data)))) == expected


@pytest.mark.parametrize('data, expected', [c[1:] for c in ODD_INPUTS],
                         ids=[c[0] for c in ODD_INPUTS])
def test_a_run_trains_and_samples_on_odd_input(tmp_path, capsys, data, expected):
    """A short run on each odd input succeeds, and sees exactly the expected documents.

    The summary line must count all of them, and exactly their alphabet: no
    BOM, no CR, no blank-line or whitespace characters.
    """
    path = write_bytes(tmp_path, 'in.txt', data)
    steps = max(3, len(expected))
    code, out, err = run_main(capsys, '--input', path, '--steps', steps, '--samples', 3,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    alphabet = set(''.join(expected))
    assert header_counts(out) == (len(expected), len(alphabet) + 1)
    samples = sample_lines(out)
    assert len(samples) + out.count('(empty: ') == 3
    assert all(set(text) <= alphabet for _, text in samples)
    assert progress_lines(out)[-1][:2] == (steps, steps)


def test_unicode_samples_reach_the_terminal_as_utf8(tmp_path):
    """End to end, in a fresh interpreter: documents and samples in many
    scripts are written out as UTF-8."""
    data = ('zoë\njürgen\n東京\n🙂🎉\nnaïve café\n' * 4).encode('utf-8')
    result = run_script('--input', write_bytes(tmp_path, 'u.txt', data), '--steps', 20,
                        '--samples', 10, '--temperature', 1.5, *TINY_KNOBS)
    assert_clean_success(result)
    alphabet = set('zoëjürgen東京🙂🎉naïve café')
    samples = [text for _, text in sample_lines(result.stdout)]
    assert samples and all(set(text) <= alphabet for text in samples)
    assert any(set(text) - set('abcdefghijklmnopqrstuvwxyz ') for text in samples)


def test_a_line_of_a_megabyte_trains_on_its_first_characters(tmp_path, capsys):
    """A single line of 1 MB works, cut to the context like any long line."""
    line = 'abcde' * 200_000
    path = write_bytes(tmp_path, 'long.txt', line + '\n' + '\n'.join(TINY_WORDS) + '\n')
    code, out, err = run_main(capsys, '--input', path, '--steps', 31, '--samples', 3, '--seed', 2,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert header_counts(out) == (31, 7)   # a b c d e n + BOS
    assert ('1 document longer than the context (--block-size 8) will be cut to '
            'its first 8 characters') in out.splitlines()
    assert progress_lines(out)[-1][:2] == (31, 31)
    assert len(sample_lines(out)) + out.count('(empty: ') == 3


# --- standard input -------------------------------------------------------------

def test_input_dash_reads_standard_input(tiny_input):
    data = tiny_input.read_bytes()
    result = run_script('--input', '-', '--steps', 5, '--samples', 2, '--seed', 3, *TINY_KNOBS,
                        input=data)
    assert_clean_success(result)
    lines = result.stdout.splitlines()
    assert lines[0] == '30 documents in standard input: 27 to train on, 3 held out for validation'
    from_file = run_script('--input', tiny_input, '--steps', 5, '--samples', 2, '--seed', 3,
                           *TINY_KNOBS)
    # The same run as from the file: only the name differs (and the timings).
    strip = lambda text: [re.sub(r'[\d.]+ ms|\d+:\d\d left|in [\d.]+ s', '', line)
                          for line in text.splitlines()[1:]]
    assert strip(result.stdout) == strip(from_file.stdout)


def test_standard_input_with_crlf_unicode_and_a_bom(tmp_path):
    data = '\ufeffzoë\r\n東京\r\n\r\nzoë\r\n'.encode('utf-8')
    result = run_script('--input', '-', '--steps', 3, '--samples', 1, *TINY_KNOBS, input=data)
    assert_clean_success(result)
    assert result.stdout.splitlines()[0] == \
        '3 documents in standard input: 3 to train on, 0 held out for validation'
    assert header_counts(result.stdout) == (3, 6)


@pytest.mark.parametrize('data, words', [
    (b'', ['standard input', 'no documents']),
    (b'\n \n\t\n', ['standard input', 'no documents']),
    (b'anna\n\xff\n', ['standard input', 'line 2', 'utf-8']),
], ids=['empty', 'blank', 'not utf-8'])
def test_bad_standard_input_is_one_error_line(data, words):
    line = assert_one_error_line(run_script('--input', '-', '--steps', 2, input=data))
    for word in words:
        assert word.lower() in line.lower()


def test_closed_standard_input_is_no_documents():
    result = subprocess.run([sys.executable, '-B', str(SCRIPT), '--input', '-', '--steps', '2'],
                            env=script_env(), capture_output=True, text=True, timeout=600,
                            stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
    assert 'no documents' in assert_one_error_line(result)


# --- unbounded input ----------------------------------------------------------------

MEMORY_GUARD = 2 * 2 ** 30   # a regression fails at 2 GB rather than filling the machine


def run_measured(*args):
    """(exit code, stderr, peak resident memory in MB) of a run of microgpt.py."""
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_GUARD, MEMORY_GUARD))
    proc = subprocess.Popen([sys.executable, '-B', str(SCRIPT), *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=script_env(), preexec_fn=limit_memory)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') \
        else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
    return proc.returncode, out.decode(), err.decode(), usage.ru_maxrss / 1024   # KB on Linux


@pytest.mark.skipif(not os.path.exists('/dev/zero') or sys.platform != 'linux',
                    reason='needs /dev/zero, and ru_maxrss in kilobytes (Linux)')
def test_an_endless_input_is_refused_in_bounded_memory():
    """/dev/zero never ends: it is refused after the cap, with one line, not
    read until memory runs out."""
    code, out, err, peak_mb = run_measured('--input', '/dev/zero', '--steps', 1)
    assert code == 2, err
    assert out == ''
    lines = err.splitlines()
    assert len(lines) == 1 and 'Traceback' not in err, err
    assert lines[0].startswith('microgpt.py: error: /dev/zero: larger than '), lines[0]
    assert peak_mb < 400, f'peak memory {peak_mb:.0f} MB'


def test_a_file_over_the_cap_is_refused_and_one_at_the_cap_is_read(tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.setattr(microgpt, 'MAX_INPUT_BYTES', 1000)
    text = ('abcd' * 24 + '\n') * 10 + 'abcdefghi\n'
    at_cap = write_bytes(tmp_path, 'at.txt', text + 'x' * (1000 - len(text) - 1) + '\n')
    assert len(at_cap.read_bytes()) == 1000
    code, out, err = run_main(capsys, '--input', at_cap, '--steps', 1, '--samples', 0, *TINY_KNOBS)
    assert (code, err) == (0, '')
    over = write_bytes(tmp_path, 'over.txt', at_cap.read_bytes() + b'x')
    code, out, err = run_main(capsys, '--input', over, '--steps', 1, *TINY_KNOBS)
    assert code == 2 and out == ''
    assert len(err.splitlines()) == 1
    assert err.startswith(f'microgpt.py: error: {over}: larger than ')


def test_standard_input_over_the_cap_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(microgpt, 'MAX_INPUT_BYTES', 1000)

    class Stdin:
        buffer = io.BytesIO(b'anna\n' * 201)
    monkeypatch.setattr(sys, 'stdin', Stdin)
    code, out, err = run_main(capsys, '--input', '-', '--steps', 1, *TINY_KNOBS)
    assert code == 2 and out == ''
    assert err.startswith('microgpt.py: error: standard input: larger than ')
    assert len(err.splitlines()) == 1


# --- absurd numbers -----------------------------------------------------------------

@pytest.mark.parametrize('steps', ['1' + '0' * 309, '1e309', '-' + '9' * 400, '1e3'],
                         ids=['a 310-digit number', '1e309', 'a huge negative', '1e3'])
def test_an_absurd_number_of_steps_is_one_clear_line(tiny_input, steps):
    """Refused before anything else happens: no training of 10^309 steps."""
    result = run_script('--input', tiny_input, '--steps', steps, *TINY_KNOBS)
    line = assert_one_error_line(result)
    assert '--steps' in line
    assert result.stdout == ''


@pytest.mark.parametrize('args', [
    ['--block-size', '1000000000'],
    ['--n-embd', '100000000', '--n-head', '1'],
    ['--n-layer', '1000000000'],
    ['--batch-size', '1' + '0' * 309],
], ids=['block-size 10^9', 'n-embd 10^8', 'n-layer 10^9', 'batch-size 10^309'])
def test_settings_that_cannot_fit_in_memory_are_refused_before_building_anything(args):
    """Checked as a run checks them, before the data is read or the model built:
    a model of billions of Values would fill the machine long before failing."""
    parsed, given = microgpt.parse_args(args)
    with pytest.raises(InputError):
        microgpt.check_settings(Config(**given), parsed)


# --- numbers that blow up -------------------------------------------------------------

def test_a_learning_rate_that_blows_up_names_the_training_step_and_the_knobs(tiny_input):
    result = run_script('--input', tiny_input, '--steps', 300, '--lr', '1e6', *TINY_KNOBS)
    line = assert_one_error_line(result)
    assert re.search(r'blew up at training step \d+ ', line), line
    assert '--lr' in line
    assert '--temperature' not in line
    assert not any(l.startswith('sample') for l in result.stdout.splitlines())


def test_weights_too_large_for_floats_are_caught_by_the_first_validation(tiny_input):
    """--init-std 1e308 makes the untrained model's numbers blow up: the first
    validation loss says so, names the one knob that set them, and the run
    stops before training."""
    result = run_script('--input', tiny_input, '--steps', 3, *TINY_KNOBS, '--init-std', '1e308')
    line = assert_one_error_line(result)
    assert 'blew up in the validation loss' in line and 'before training' in line
    assert '--init-std' in line and '--lr' not in line and '--temperature' not in line
    assert not any(l.startswith(('val loss', 'step')) for l in result.stdout.splitlines())


def test_a_blow_up_without_validation_is_caught_in_training(tiny_input):
    result = run_script('--input', tiny_input, '--steps', 3, '--val-docs', 0, *TINY_KNOBS,
                        '--init-std', '1e308')
    line = assert_one_error_line(result)
    assert 'at training step 1 ' in line and '--init-std' in line


def test_a_temperature_whose_inverse_overflows_is_refused_before_training(tiny_input):
    """1 / 1e-310 is infinite: the run says so at once instead of training first."""
    result = run_script('--input', tiny_input, '--steps', 3, *TINY_KNOBS, '--temperature', '1e-310')
    assert assert_one_error_line(result) == \
        'microgpt.py: error: --temperature 1e-310 is too small: dividing by it overflows'
    assert result.stdout == ''


def test_logits_that_overflow_at_a_tiny_temperature_end_in_one_error_line(tiny_input):
    """1 / 1e-308 is finite, but logits of a few units divided by it are not:
    sampling meets inf - inf. It must say so, naming the temperature, on every
    Python (3.9's random.choices would take NaN weights without a word, and
    later ones raise a ValueError)."""
    result = run_script('--input', tiny_input, '--steps', 3, '--samples', 5, *TINY_KNOBS,
                        '--temperature', '1e-308', '--init-std', '1')
    line = assert_one_error_line(result)
    assert 'blew up while sampling' in line and '--temperature' in line, line


# --- output that cannot be written -------------------------------------------------

def run_with_stdout(stdout, *args, preexec_fn=None):
    result = subprocess.run([sys.executable, '-B', str(SCRIPT), *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                            env=script_env(), timeout=600, preexec_fn=preexec_fn)
    result.stderr = result.stderr.decode('utf-8')
    result.stdout = ''
    return result


def assert_one_line_nonzero_no_traceback(result):
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr and 'Exception' not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('microgpt.py: error: ')
    return lines[0]


def test_closed_standard_output_is_one_error_line(tiny_input):
    """`python microgpt.py >&-`: nowhere to write, said once on stderr."""
    result = run_with_stdout(None, '--input', tiny_input, '--steps', 3, *TINY_KNOBS,
                             preexec_fn=lambda: os.close(1))
    assert 'standard output' in assert_one_line_nonzero_no_traceback(result)


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='needs /dev/full')
@pytest.mark.parametrize('args', [['--steps', 3, *TINY_KNOBS], ['--help'],
                                  ['--steps', 3, '--samples', 0, '--val-docs', 0, *TINY_KNOBS]],
                         ids=['a run', '--help', 'a run that prints little'])
def test_a_full_disk_is_one_error_line(tiny_input, args):
    """`> /dev/full`: every write fails with 'no space left on device'."""
    with open('/dev/full', 'wb') as full:
        result = run_with_stdout(full, '--input', tiny_input, *args)
    line = assert_one_line_nonzero_no_traceback(result)
    assert 'cannot write' in line


def test_a_reader_that_stops_early_ends_the_run_quietly(tiny_input):
    """`| head -1`: once the reader is gone the run stops, with no traceback.

    The samples (a few thousand lines, far more than a pipe holds) keep the
    run writing until after the reader has left, wherever it is when it
    leaves."""
    proc = subprocess.Popen([sys.executable, '-B', str(SCRIPT), '--input', str(tiny_input),
                             '--steps', '1', '--samples', '20000', *TINY_KNOBS],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=script_env())
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode('utf-8')
    proc.stderr.close()
    assert proc.wait(timeout=600) == 1
    assert first.startswith(b'30 documents in ')
    assert err == ''


# --- running out of memory, importing --------------------------------------------------

def test_running_out_of_memory_is_one_error_line(tiny_input, monkeypatch, capsys):
    """A model too big for the machine: no traceback, exit code 2."""
    def too_big(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(microgpt, 'GPT', too_big)
    code, out, err = run_main(capsys, '--input', tiny_input, '--n-embd', '64')
    assert code == 2
    assert err.startswith('microgpt.py: error: out of memory') and err.count('\n') == 1


def test_import_has_no_side_effects(tmp_path):
    """Importing prints nothing, creates nothing, reads no input and leaves gc on."""
    code = (
        'import sys, gc\n'
        f'sys.path.insert(0, {str(REPO)!r})\n'
        'import microgpt\n'
        'sys.stderr.write(repr((gc.isenabled(), callable(microgpt.main))))\n'
    )
    result = subprocess.run([sys.executable, '-B', '-c', code], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ''
    assert eval(result.stderr.strip().splitlines()[-1]) == (True, True)
    assert os.listdir(tmp_path) == []


# --- the classic names data set (optional) -------------------------------------

def test_cli_on_the_names_data(names_path):
    """A few steps on the 32k names: 26 letters + BOS, progress and samples."""
    result = run_script('--input', names_path, '--steps', 5, '--samples', 2)
    assert_clean_success(result)
    lines = sum(1 for line in open(names_path, encoding='utf-8') if line.strip())
    assert header_counts(result.stdout) == (lines, 27)
    assert len(sample_lines(result.stdout)) + result.stdout.count('(empty: ') == 2
    assert progress_lines(result.stdout)[-1][:2] == (5, 5)
