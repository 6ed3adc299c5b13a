"""Bad input, as a new user would give it: the overview of the reliability tests.

Every case must raise the stated error type early, with a message that names the file, set,
key or parameter at fault, and leave every file as it was: nothing deleted, nothing
half-written, no code run from a file. A case builds its input in a fresh folder and returns
``(call, error type, pattern)``; ``tests/badinput.py`` snapshots the whole folder byte for byte
before and after the call (data-loss tests snapshot the user's folders the same way). The
cases live in six modules: ``test_bad_input_files.py`` (part 1: the data set, cube files,
output folders, weight files, the configuration) and, for the ten classes of rules below,
``test_bad_input_data_loss.py`` (``loss``), ``test_bad_input_values.py`` (``values``),
``test_bad_input_guard.py`` (``guard``), ``test_bad_input_runner.py`` (``runner``) and
``test_bad_input_errors.py`` (``errors``). The table maps each class to its cases and tests
(``*`` ends a name prefix); :func:`test_the_table_names_real_cases_and_covers_them_all` keeps it
true and counts them.

===== ========================================== ================================================
class rule                                       cases and tests (module: names)
===== ========================================== ================================================
1     every replaced folder follows the marker   loss: standin_*, notebook01_*, export_*,
      rule; a writer refuses an output holding   write_synthetic_*, proportion_*, run_all_out_*,
      one of its inputs; --out never overlaps    test_the_standin_replaces_*
      the repository, notebooks, data set or
      masks
2     a rerun removes the project's own stale    loss: test_a_killed_folder_writer_*,
      temporaries (process id + host marker or   test_a_killed_file_writer_*
      name), nothing else
3     no loader unpickles (grid results are      loss: grid_result_*, crop_file_*,
      JSON, crops allow_pickle=False,            trainer_resuming_*,
      weights_only=True everywhere)              test_a_grid_never_unpickles_*, test_no_loader_*,
                                                 test_the_unsafe_patterns_*
4     bad values are refused, never turned into  values: mask_*, crops_from_*, checkpoint_with_*,
      numbers: masks (one-channel rule), NaN/inf classifier_*, normaliser_file_*,
      anywhere, labels not 0/1, empty scores,    normaliser_fitted_on_a_nan_*, crop_dataset_*,
      non-integer grid seeds, cells sharing a    load_crops_*, export_of_*,
      folder; intervals that cannot vary are NaN crop_folder_with_an_*, precision_*, density_*,
      with a warning                             frechet_*, kid_*, sam_*, evaluate_*, auroc_*,
                                                 scores_*, delong_*, cluster_bootstrap_*, grid_*,
                                                 test_one_source_*, test_delong_*,
                                                 test_the_detectability_*, test_masks_that_*
5     Trainer.load refuses a checkpoint of other guard: resume_*, test_other_data_*
      images unless other_data=True (the record
      then lists both)
6     the test split is closed by every route    guard: normaliser_fitted_on_test_*,
                                                 every_crop_*, reading_the_test_*,
                                                 lesion_range_*, generator_states_*,
                                                 test_synthetic_folders_*
7     run_all.py checks everything before the    runner: set_*, fid_*, seed_*, only_*, data_*,
      first notebook (choices, paths, seeds,     standin_too_*, more_folds_*, batch_*,
      sizes, --only with --from, --data "", a    a_billion_*, a_crop_side_*,
      read-only --out)                           test_run_all_refuses_*, test_the_tuple_fields_*,
                                                 test_a_read_only_out_*
8     library errors name the file and the       errors: cube_without_*, rgb_index_*, crops_of_*,
      problem                                    normaliser_with_*, crop_folder_with_one_*,
                                                 normaliser_fitted_on_one_*, crop_whose_*,
                                                 crop_that_*, split_fraction_*, checkpoint_*,
                                                 lpips_*, test_a_truncated_*, test_a_checkpoint_*
9     silently skipped inputs are reported once  errors: test_cubes_in_sub_folders_*,
                                                 test_mask_names_with_*,
                                                 test_mask_files_no_cube_*,
                                                 test_a_split_with_an_empty_*
10    one run_all.py per run folder (a lock      runner: run_folder_in_use_*,
      naming the holder; stale locks replaced)   test_a_stale_lock_*,
                                                 test_the_lock_is_no_output_*
===== ========================================== ================================================
"""

from __future__ import annotations

import importlib
import re

TABLE_MODULES = {"loss": "test_bad_input_data_loss", "values": "test_bad_input_values",
                 "guard": "test_bad_input_guard", "runner": "test_bad_input_runner",
                 "errors": "test_bad_input_errors"}


def _table() -> dict[int, dict[str, list[str]]]:
    """Class -> module -> the names and prefixes the docstring's table lists for it."""
    lines = __doc__.splitlines()
    borders = [i for i, line in enumerate(lines) if line.startswith("===== ")]
    rows = lines[borders[1] + 1:borders[2]]
    third = lines[borders[0]].rindex(" ") + 1  # where the third column starts
    table, current, module = {}, None, None
    for line in rows:
        head, cell = line[:third], line[third:]
        if head[:5].strip().isdigit():
            current = int(head[:5])
            table[current] = {}
        found = re.match(r"\s*(\w+): (.*)", cell)
        if found:
            module, cell = found.groups()
        table[current].setdefault(module, []).extend(
            n.strip() for n in cell.split(",") if n.strip())
    return table


def _matches(name: str, pattern: str) -> bool:
    return name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1]))


def test_the_table_names_real_cases_and_covers_them_all():
    table = _table()
    assert sorted(table) == list(range(1, 11))
    assert all(entry for entry in table.values())  # every class has cases or tests
    total = 0
    for short, name in TABLE_MODULES.items():
        module = importlib.import_module(name)
        names = set(module.CASES) | {n for n in dir(module) if n.startswith("test_")}
        names.discard("test_bad_input_fails_early_named_and_harmless")
        listed = [p for entry in table.values() for p in entry.get(short, [])]
        for pattern in listed:  # every entry of the table names something real
            assert any(_matches(n, pattern) for n in names), (name, pattern)
        for n in names:  # and everything is in the table
            assert any(_matches(n, p) for p in listed), (name, n)
        total += len(names)
    assert total >= 80  # distinct cases and tests over the ten classes


def test_a_table_entry_without_a_case_is_noticed():
    assert _matches("seed_below_zero", "seed_*") and not _matches("a_seed", "seed_*")
    assert not _matches("mask_empty", "mask_empty_x")
