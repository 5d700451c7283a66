"""The command line, end to end, and the reading of input files."""

import gc
import os
import random
import re
import subprocess
import sys

import pytest

import microgpt
from microgpt import Config, InputError, load_docs
from conftest import (REPO, TINY_KNOBS, TINY_WORDS, assert_clean_success, header_counts,
                      make_model, progress_lines, run_script, sample_lines, write_bytes)

# --- a normal run ---------------------------------------------------------------

def test_short_run_prints_progress_and_samples(tiny_input):
    """--steps 20 --samples 3: exit 0, well-formed progress up to step 20, exactly 3 samples."""
    result = run_script('--input', tiny_input, '--steps', 20, '--samples', 3)
    assert_clean_success(result)
    progress = progress_lines(result.stdout)
    assert progress, result.stdout
    steps = [step for step, _, _ in progress]
    assert steps[0] == 1 and steps[-1] == 20
    assert steps == sorted(set(steps))
    assert all(total == 20 for _, total, _ in progress)
    assert all(0 < loss < 10 for _, _, loss in progress)
    samples = sample_lines(result.stdout)
    assert [n for n, _ in samples] == [1, 2, 3]
    alphabet = set(''.join(TINY_WORDS))
    assert all(set(text) <= alphabet for _, text in samples)
    # Every document is counted, though 20 steps read only 20 of the 30.
    assert header_counts(result.stdout) == (len(TINY_WORDS), len(alphabet) + 1)


def test_zero_samples_prints_none(tiny_input):
    result = run_script('--input', tiny_input, '--steps', 2, '--samples', 0, *TINY_KNOBS)
    assert_clean_success(result)
    assert sample_lines(result.stdout) == []
    assert progress_lines(result.stdout)[-1][:2] == (2, 2)


def test_runs_are_reproducible_from_the_seed(tiny_input):
    """The same --seed twice gives the same losses and samples; another seed, other samples."""
    def run(seed):
        result = run_script('--input', tiny_input, '--steps', 15, '--samples', 6,
                            '--temperature', 1.0, '--seed', seed, *TINY_KNOBS)
        assert_clean_success(result)
        return progress_lines(result.stdout), sample_lines(result.stdout)
    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert len(first[1]) == 6
    assert other[1] != first[1]


def test_input_file_is_never_modified(tiny_input):
    """A run leaves the input's bytes, mtime and directory untouched."""
    before = (tiny_input.read_bytes(), os.stat(tiny_input).st_mtime_ns,
              sorted(os.listdir(tiny_input.parent)))
    result = run_script('--input', tiny_input, '--steps', 5, '--samples', 2, *TINY_KNOBS)
    assert_clean_success(result)
    after = (tiny_input.read_bytes(), os.stat(tiny_input).st_mtime_ns,
             sorted(os.listdir(tiny_input.parent)))
    assert after == before


def test_main_returns_exit_codes_in_process(tiny_input, tmp_path, capsys):
    """main(argv) returns 0 after a run and 2 on bad input, leaving the collector on."""
    assert microgpt.main(['--input', str(tiny_input), '--steps', '2', '--samples', '1',
                          *TINY_KNOBS]) == 0
    out, err = capsys.readouterr()
    assert err == ''
    assert len(sample_lines(out)) == 1
    assert gc.isenabled()
    assert microgpt.main(['--input', str(tmp_path / 'absent.txt')]) == 2
    out, err = capsys.readouterr()
    assert out == ''
    assert len(err.splitlines()) == 1 and 'absent.txt' in err


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
    '--steps': Config.steps, '--seed': Config.seed, '--temperature': Config.temperature,
    '--samples': Config.num_samples, '--n-embd': Config.n_embd, '--n-head': Config.n_head,
    '--n-layer': Config.n_layer, '--block-size': Config.block_size,
    '--lr': Config.learning_rate, '--beta1': Config.beta1, '--beta2': Config.beta2,
    '--eps': Config.eps, '--init-std': Config.init_std, '--val-docs': Config.val_docs,
    '--prefix': 'none',
}


def test_help_lists_every_knob_with_its_default():
    """--help exits 0 and shows each option with the default that Config really has."""
    result = run_script('--help')
    assert result.returncode == 0
    assert result.stderr == ''
    entries = help_entries(result.stdout)
    missing = (set(KNOB_DEFAULTS) | {'--input'}) - set(entries)
    assert not missing, f'not in --help: {sorted(missing)}'
    for option, default in KNOB_DEFAULTS.items():
        assert f'(default: {default})' in entries[option], entries[option]
    assert 'default' in entries['--input'] and 'input.txt' in entries['--input']


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
    ('empty file', _file('empty.txt', b''), ['empty.txt']),
    ('blank-only file', _file('blank.txt', b'  \n\n \t \r\n   \n'), ['blank.txt']),
    ('undecodable bytes', _file('bad.txt', b'\xff\xfe\xfa'), ['bad.txt', 'utf-8']),
    ('undecodable line 3', _file('latin.txt', b'anna\nbob\ncaf\xe9\n'),
     ['latin.txt', 'utf-8', 'line 3']),
    ('steps 0', _knobs('--steps', '0'), ['--steps']),
    ('temperature 0', _knobs('--temperature', '0'), ['--temperature']),
    ('temperature -1', _knobs('--temperature', '-1'), ['--temperature']),
    ('temperature nan', _knobs('--temperature', 'nan'), ['--temperature']),
    ('samples -1', _knobs('--samples', '-1'), ['--samples']),
    ('n-embd not divisible by n-head', _knobs('--n-embd', '10', '--n-head', '4'),
     ['--n-embd', '--n-head']),
    ('n-head 0', _knobs('--n-head', '0'), ['--n-head']),
    ('n-layer 0', _knobs('--n-layer', '0'), ['--n-layer']),
    ('block-size 0', _knobs('--block-size', '0'), ['--block-size']),
    ('n-embd 0', _knobs('--n-embd', '0'), ['--n-embd']),
    ('lr 0', _knobs('--lr', '0'), ['--lr']),
    ('beta1 1', _knobs('--beta1', '1'), ['--beta1']),
    ('non-numeric steps', _knobs('--steps', 'ten'), ['--steps', 'ten']),
    ('unknown option', _knobs('--n-embed', '8'), ['--n-embed']),
    ('val-docs -1', _knobs('--val-docs', '-1'), ['--val-docs']),
    ('prefix with unknown characters', _knobs('--prefix', 'Zanq'), ['--prefix', "'z', 'q'"]),
    ('prefix too long for the context', _knobs('--prefix', 'anna', '--block-size', '4'),
     ['--prefix', '--block-size 4', 'at most 3']),
]


@pytest.mark.parametrize('make_args, words', [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_one_error_line_and_exit_code_2(tmp_path, make_args, words):
    """Each problem: exit code 2, exactly one stderr line naming it, no traceback, no output."""
    result = run_script(*make_args(tmp_path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert 'Traceback' not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert result.stdout == ''


def test_file_problems_are_described(tmp_path):
    """The one line says what is wrong, not just that something is."""
    def error_for(path):
        with pytest.raises(InputError) as info:
            load_docs(path)
        return str(info.value).lower()
    assert any(w in error_for(tmp_path / 'gone.txt') for w in ('no such file', 'not found', 'exist'))
    assert 'directory' in error_for(tmp_path)
    for data in (b'', b' \n\t\n\r\n'):
        message = error_for(write_bytes(tmp_path, 'e.txt', data))
        assert any(w in message for w in ('empty', 'blank', 'no documents')), message
    message = error_for(write_bytes(tmp_path, 'u.txt', b'ok\n\xff\xfe\xfa\n'))
    assert 'utf-8' in message and 'line 2' in message


@pytest.mark.parametrize('data', [
    'jürgen\n'.encode('latin-1'),
    '\ufeffanna\nbob\n'.encode('utf-16'),
    b'anna\n\xc3\n',            # a truncated two-byte sequence
    b'\xef\xbb\xbf\xff\n',      # a BOM, then garbage
], ids=['latin-1', 'utf-16', 'truncated sequence', 'bom then garbage'])
def test_text_that_is_not_utf8_is_an_input_error(tmp_path, data):
    with pytest.raises(InputError):
        load_docs(write_bytes(tmp_path, 'x.txt', data))


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
def test_load_docs_parses_odd_input_exactly(tmp_path, data, expected):
    """Line endings and surrounding whitespace go, blank lines are skipped, the BOM is dropped."""
    assert load_docs(write_bytes(tmp_path, 'in.txt', data)) == expected


@pytest.mark.parametrize('data, expected', [c[1:] for c in ODD_INPUTS],
                         ids=[c[0] for c in ODD_INPUTS])
def test_cli_trains_and_samples_on_odd_input(tmp_path, data, expected):
    """A short run on each odd input succeeds, and sees exactly the expected documents.

    The summary line must count all of them, and exactly their alphabet: no
    BOM, no CR, no blank-line or whitespace characters.
    """
    path = write_bytes(tmp_path, 'in.txt', data)
    steps = max(3, len(expected))
    result = run_script('--input', path, '--steps', steps, '--samples', 3, *TINY_KNOBS)
    assert_clean_success(result)
    alphabet = set(''.join(expected))
    assert header_counts(result.stdout) == (len(expected), len(alphabet) + 1)
    samples = sample_lines(result.stdout)
    assert len(samples) == 3
    assert all(set(text) <= alphabet for _, text in samples)
    assert progress_lines(result.stdout)[-1][:2] == (steps, steps)


def test_bad_byte_after_a_byte_order_mark_is_named_exactly(tmp_path):
    path = write_bytes(tmp_path, 'bom.txt', b'\xef\xbb\xbfab\xff\ncd\n')
    result = run_script('--input', path, '--steps', 2)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'microgpt.py: error: {path}: line 1 is not UTF-8 text (byte 0xff)']


def test_numbers_that_blow_up_end_in_one_error_line(tiny_input):
    """A learning rate that drives the loss to NaN is reported, not trained on."""
    result = run_script('--input', tiny_input, '--steps', 20, '--samples', 0, '--lr', '1e300')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'blew up' in lines[0] and '--lr' in lines[0], result.stderr
    assert 'Traceback' not in result.stderr


def test_a_temperature_whose_inverse_overflows_is_refused_before_training(tiny_input):
    """1 / 1e-310 is infinite: the run says so at once instead of training first."""
    result = run_script('--input', tiny_input, '--steps', 3, *TINY_KNOBS, '--temperature', '1e-310')
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr == ('microgpt.py: error: --temperature 1e-310 is too small: '
                             'dividing by it overflows\n')


def test_logits_that_overflow_at_a_tiny_temperature_end_in_one_error_line(tiny_input):
    """1 / 1e-308 is finite, but logits of a few units divided by it are not.
    On every Python: 3.9's random.choices would take NaN weights without a word."""
    result = run_script('--input', tiny_input, '--steps', 3, '--samples', 5, *TINY_KNOBS,
                        '--temperature', '1e-308', '--init-std', '3')
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'blew up' in lines[0] and '--temperature' in lines[0], result.stderr


def test_numbers_that_blow_up_are_caught_where_they_go_bad():
    """A probability of exactly 0 and sampling weights that are not numbers raise
    FloatingPointError, which main() reports; no error message text is matched."""
    model, tok, _ = make_model(TINY_WORDS, seed=1, init_std=1e3)
    with pytest.raises(FloatingPointError, match='became 0'):
        microgpt.document_loss(model, tok.encode('banana'))
    model, tok, _ = make_model(TINY_WORDS, seed=1, init_std=3.0)
    with pytest.raises(FloatingPointError, match='not numbers'):
        microgpt.sample(model, tok, random.Random(0), 1e-308)


def test_weights_too_large_for_floats_are_caught_by_the_first_validation(tiny_input):
    """--init-std 1e308 makes the untrained model's numbers infinite; the first
    validation loss is then not a number, and the run stops before training."""
    result = run_script('--input', tiny_input, '--steps', 3, *TINY_KNOBS, '--init-std', '1e308')
    assert result.returncode == 2
    assert result.stderr.startswith('microgpt.py: error: the numbers blew up (')
    assert len(result.stderr.splitlines()) == 1
    assert not any(line.startswith(('val loss', 'step')) for line in result.stdout.splitlines())


def test_an_empty_input_path_is_named_as_the_problem():
    for args in (['--input='], ['--input', '']):
        result = run_script(*args)
        assert result.returncode == 2
        assert result.stderr == 'microgpt.py: error: --input needs a path\n'


def test_running_out_of_memory_is_one_error_line(tiny_input, monkeypatch, capsys):
    """A model too big for the machine: no traceback, exit code 2."""
    def too_big(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(microgpt, 'GPT', too_big)
    assert microgpt.main(['--input', str(tiny_input), '--n-embd', '100000']) == 2
    err = capsys.readouterr().err
    assert err.startswith('microgpt.py: error: out of memory') and err.count('\n') == 1


def test_help_is_an_option_not_a_value(tiny_input):
    """--prefix -h asks for the prefix '-h', not for help."""
    for flag in ('-h', '--help'):
        assert run_script(flag).stdout.startswith('usage:')
    result = run_script('--input', tiny_input, '--prefix', '-h', '--steps', 2)
    assert result.returncode == 2
    assert "--prefix '-h'" in result.stderr and 'usage' not in result.stdout


# --- importing --------------------------------------------------------------------

def test_import_has_no_side_effects_and_is_fast(tmp_path):
    """Importing prints nothing, creates nothing, leaves gc on, and takes well under 0.5 s."""
    code = (
        'import sys, time, gc\n'
        f'sys.path.insert(0, {str(REPO)!r})\n'
        't = time.perf_counter()\n'
        'import microgpt\n'
        'elapsed = time.perf_counter() - t\n'
        'sys.stderr.write(repr((elapsed, gc.isenabled(), callable(microgpt.main))))\n'
    )
    result = subprocess.run([sys.executable, '-B', '-c', code], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ''
    elapsed, gc_on, has_main = eval(result.stderr.strip().splitlines()[-1])
    assert gc_on and has_main
    assert elapsed < 0.5, f'import took {elapsed:.3f} s'
    assert os.listdir(tmp_path) == []


# --- the classic names data set (optional) -------------------------------------

def test_cli_on_the_names_data(names_path):
    """A few steps on the 32k names: 26 letters + BOS, progress and samples."""
    result = run_script('--input', names_path, '--steps', 5, '--samples', 2)
    assert_clean_success(result)
    lines = sum(1 for line in open(names_path, encoding='utf-8') if line.strip())
    assert header_counts(result.stdout) == (lines, 27)
    assert len(sample_lines(result.stdout)) == 2
    assert progress_lines(result.stdout)[-1][:2] == (5, 5)
