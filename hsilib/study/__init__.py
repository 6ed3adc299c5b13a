"""The study logic of the notebooks, apart from training (:mod:`hsilib.train`) and from
figures (:mod:`hsilib.plotting`).

=====================  =========================================================================
idea                   module
=====================  =========================================================================
audits of the inputs   :mod:`hsilib.study.audit`: the data checks of notebook 01 (framing,
                       context-only probe, separability, normalisation) and the audit of the
                       generators' training inputs (:func:`~hsilib.study.audit.audit_generators`)
the ablation arms      :mod:`hsilib.study.ablation` (notebook 02): arms, their configs, the
                       generated conclusions on the critic ladder and RGB-to-HS reconstruction
the plan               :mod:`hsilib.study.plan`: :class:`~hsilib.study.plan.Experiment` (with
                       its generator replicates), :func:`~hsilib.study.plan.plan_experiments`,
                       ``BASELINE``, ``MAIN`` (synthetic crops in the real class ratio),
                       ``MM_ONLY`` and its control ``OVERSAMPLED``, ``TSTR``, ``PASSTHROUGH``;
                       the optional arms and which profile runs them
                       (:func:`~hsilib.study.plan.arm_table`)
running the grid       :mod:`hsilib.study.grid`: :func:`~hsilib.study.grid.run_grid` runs every
                       (experiment, seed, replicate) cell (:mod:`hsilib.study.cells`) once,
                       stores each atomically, skips stored cells on rerun; the executor (where
                       cells run) is pluggable (:mod:`hsilib.study.ray_executor`)
statistics             :mod:`hsilib.study.stats`: per-run metrics, summary tables with CIs over
                       classifier seeds (generator replicates averaged within seed), test-set
                       intervals (cluster bootstrap over source images, DeLong), paired
                       comparisons on shared resamples with Holm's correction, equivalence tests
                       and minimal detectable changes, verdicts (the intervals and their words:
                       :mod:`hsilib.metrics.intervals`; power: :mod:`hsilib.metrics.power`);
                       :mod:`hsilib.study.power_analysis`: what each profile's design can detect
generated prose        :mod:`hsilib.study.conclusions`: the closing text, from the numbers
amount, generator,     :mod:`hsilib.study.proportion` (notebook 07): synthetic pools with critic
filtering              scores, top-scored and random subsets of equal size, the amount x mix x
                       generator family x filter plan, its generated findings
metrics vs utility     :mod:`hsilib.study.correlation` (notebook 08): the oracle ladder of known
                       corruptions (:mod:`hsilib.study.oracle`), class-balanced generator pairs
                       and the probe plan (:mod:`hsilib.study.correlation_states`), utilities
                       (:mod:`hsilib.study.correlation_utility`), each state's metrics
                       (:mod:`hsilib.study.correlation_scoring`), the calibration
                       (:mod:`hsilib.study.correlation_calibration`), correlations within and
                       across groups with whole clusters resampled
                       (:mod:`hsilib.study.correlation_stats`), generated findings
what the classifier    :mod:`hsilib.study.explain` (notebook 09): input variants (16 bands, sRGB,
looks at               grey, bands chosen on validation) through notebook 06's training, the
                       greedy band choice, attributions per crop and their summaries, the
                       randomisation check, generated conclusions; :mod:`hsilib.study.cues`:
                       agreement with the stand-in's chromophores, the synthetic families'
                       task-aware distances
generator states       :mod:`hsilib.study.states` (notebook 08): states from the checkpoints,
                       each state's crops and its metric table at the lighter setting
generator studies      :mod:`hsilib.study.generators` (notebooks 02-05): replicates and their
                       data, training a family, samples, the metric protocol, records, exports,
                       audits; :mod:`hsilib.study.generator_conclusions`: their generated text
classifier inputs      :mod:`hsilib.study.classifier_inputs` (notebooks 06-08): replicates,
                       synthetic sets, the passthrough export, one classifier run per grid cell;
                       :mod:`hsilib.study.family_sets`: crops of any generator family with the
                       conditions it needs (masks, RGB images, class);
                       :mod:`hsilib.study.arm_inputs` (notebook 06): generators of the reduced
                       learning-curve arms, SeFa edits, the audit of every arm's generators
=====================  =========================================================================

Melanoma is the positive class in every number.
"""
