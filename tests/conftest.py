"""Load the Hypothesis profile named by ``HYPOTHESIS_PROFILE`` (``ci``, ``dev`` or ``thorough``), and mark the
slow set.

Importing :mod:`verify.profiles` registers the three profiles and loads the
selected one (default ``dev``), e.g. ``HYPOTHESIS_PROFILE=ci python -m pytest -n 2``.

The slow set (``-m slow``) holds the long, exhaustive runs: whole ``prove`` runs under planted mistakes,
real training of E4/E5, real Dask clusters and schedulers, exhaustive variant searches.  The README's
test command leaves it out (``addopts = -m "not slow"`` in ``pyproject.toml``) so the everyday suite stays
short; ``.ci/run`` runs it as a second set, so no mutation check is lost.  The list below is by node id
(prefixes), measured with ``--durations``: a test that takes more than a few seconds on an idle core.
"""
import pytest

import verify.profiles  # noqa: F401

SLOW = (
    "tests/test_proofs.py::test_replacing_the_package_names_fails_every_theorem_it_breaks",
    "tests/test_proofs.py::test_each_layer_entry_point_doing_nothing_fails_the_stack_theorems",
    "tests/test_proofs.py::test_prove_cli_exits_nonzero_on_a_wrong_setup",
    "tests/test_proofs.py::test_prove_cli_proves_l6_and_p1_to_p9",
    "tests/test_proofs.py::test_p7_witness_rechecks_with_fractions",
    "tests/test_proofs.py::test_prove_json_lists_assumptions_with_spot_checks",
    "tests/test_proofs.py::test_prove_cli_accepts_lemma_alias",
    "tests/test_blueprint.py::test_readme_is_in_sync_with_the_registry",
    "tests/test_conformance.py::test_a_numeric_only_mistake_fails_engine_conformance",
    "tests/test_conformance.py::test_a_benign_rewrite_leaves_the_statuses_as_they_were",
    "tests/test_conformance.py::test_a_failed_e0_fails_the_theorems_the_commands_rely_on_and_prove_exits_1",
    "tests/test_formal.py::test_every_conditional_theorem_lists_what_it_rests_on",
    "tests/test_formal.py::test_dependents_of_a_false_formula_fail_too",
    "tests/test_formal.py::test_a_misstated_assumption_fails_every_theorem_resting_on_it",
    "tests/test_formal.py::test_a_false_formula_makes_prove_exit_1",
    "tests/test_formal.py::test_equivalent_rewrites_keep_the_statuses",
    "tests/test_p10.py::test_gradient_ascent_and_scaled_p_fail",
    "tests/test_p10.py::test_p10_is_proved_with_gamma_eta_I",
    "tests/test_p10.py::test_block_identities_can_fail",
    "tests/test_p10.py::test_necessity_is_checked_at_d1_only",
    "tests/test_p10.py::test_setup_that_moves_x_fails_without_a_gamma",
    "tests/test_p10.py::test_a_wrong_characterization_makes_the_theorem_fail",
    "tests/test_p11.py::test_p11_is_conditional_on_named_results",
    "tests/test_p11.py::test_wrong_setup_fails",
    "tests/test_transformer.py::test_e5_rows_summary_and_reading",
    "tests/test_transformer.py::test_a_real_ctrl_c_saves_a_checkpoint_and_exits_130",
    "tests/test_transformer.py::test_the_other_tasks_train_and_report_their_metric",
    "tests/test_transformer.py::test_cli_writes_the_checkpoint_and_the_metrics",
    "tests/test_transformer.py::test_training_is_deterministic_under_a_seed",
    "tests/test_train.py::test_e4_",
    "tests/test_train.py::test_figures_train_writes_e4_files",
    "tests/test_train.py::test_report_includes_e4_with_the_extra",
    "tests/test_train.py::test_train_then_fit_default_one_layer_prefix_is_near_the_family",
    "tests/test_train.py::test_the_deepest_admitted_stack_trains_at_the_defaults",
    "tests/test_train.py::test_without_the_extra_everything_else_works",
    "tests/test_sweep.py::test_unreachable_scheduler_is_one_line",
    "tests/test_sweep.py::test_ctrl_c_exits_130_keeps_finished_cells_and_rerun_resumes",
    "tests/test_sweep.py::test_scheduler_started_separately",
    "tests/test_sweep.py::test_worker_killed_mid_run_loses_nothing_and_duplicates_nothing",
    "tests/test_sweep.py::test_mutant_that_does_not_rerun_lost_cells_is_caught",
    "tests/test_variant_stability.py::test_v3_v4_hold_and_are_not_contradicted",
    "tests/test_variant_stability.py::test_causal_rule_is_causal_in_prove",
    "tests/test_variant_stability.py::test_mutation_ignoring_jordan_chains_is_caught",
    "tests/test_variants.py::test_mutation_unverified_witness_is_not_reported",
    "tests/test_variants.py::test_v4_causal_constant_is_p8_and_count_is_refuted",
    "tests/test_variants.py::test_prefix_is_not_refuted",
    "tests/test_variants.py::test_statuses_do_not_change_across_runs",
    "tests/test_variants.py::test_v3_block_formula",
    "tests/test_variants.py::test_non_prefix_v2_v5_refuted_with_exact_witnesses",
    "tests/test_strategies_external.py::",
    "tests/test_hostile.py::test_hostile_rule_text",
    "tests/test_derive.py::test_a_60_by_60_numeric_matrix_is_classified_exactly",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the slow set before ``-m`` selects (this hook runs first)."""
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
