"""The names of the tags mloop writes itself, all under ``mloop.``: defined once, here.

Runs carry them as searchable tags (``tags.`mloop.git.commit` = '...'``); model versions carry
the gate's and the evaluation's. Users' own tags should not start with ``mloop.``: the CLI shows
these apart as system tags.
"""

from __future__ import annotations

#: Every system tag starts with this.
SYSTEM_PREFIX = "mloop."

# -- where a run ran (tracking/_context.py records them) -------------------------------------

TAG_USER = "mloop.user"
TAG_HOST = "mloop.host"
TAG_PYTHON = "mloop.python"
TAG_ENTRY_POINT = "mloop.entry_point"
TAG_ARGV = "mloop.argv"
TAG_CWD = "mloop.cwd"
TAG_GIT_COMMIT = "mloop.git.commit"
TAG_GIT_DIRTY = "mloop.git.dirty"
TAG_GIT_BRANCH = "mloop.git.branch"
TAG_GIT_CWD = "mloop.git.cwd"
TAG_GIT_ENTRY_POINT = "mloop.git.entry_point"
TAG_PACKAGES_HASH = "mloop.env.packages_sha256"
#: The installed package list; a list past one tag's limit continues in ``.2``, ``.3``, ...
TAG_PACKAGES = "mloop.env.packages"
#: The run this run re-runs (``mloop reproduce``).
TAG_REPRODUCES = "mloop.reproduces"

# -- how a run ended, and where it came from ---------------------------------------------------

#: The exception that ended a run FAILED: ``"<type>: <message>"``.
TAG_ERROR = "mloop.error"
#: What created an experiment, a run or a dataset version when not a user (``mloop demo``).
TAG_SOURCE = "mloop.source"

# -- pipelines and their steps ------------------------------------------------------------------

TAG_PIPELINE_TARGET = "mloop.pipeline.target"
TAG_PIPELINE_NAME = "mloop.pipeline.name"
TAG_PIPELINE_ENGINE = "mloop.pipeline.engine"
TAG_STEP_NAME = "mloop.step.name"
TAG_STEP_ID = "mloop.step.id"
TAG_STEP_CACHE_KEY = "mloop.step.cache_key"
TAG_STEP_CACHED = "mloop.step.cached"
TAG_STEP_CACHED_FROM = "mloop.step.cached_from"
TAG_STEP_INPUTS = "mloop.step.inputs"
TAG_STEP_OUTPUT_SHA = "mloop.step.output.sha256"
TAG_STEP_OUTPUT_PATH = "mloop.step.output.path"
TAG_STEP_ATTEMPTS = "mloop.step.attempts"

# -- tuning: the study's run and each trial's ---------------------------------------------------

TAG_TUNE_STUDY = "mloop.tune.study"
TAG_TUNE_SPACE = "mloop.tune.space"
TAG_TUNE_DIRECTIONS = "mloop.tune.directions"
TAG_TUNE_SAMPLER = "mloop.tune.sampler"
TAG_TUNE_PRUNER = "mloop.tune.pruner"
TAG_TUNE_ENGINE = "mloop.tune.engine"
TAG_TUNE_N_TRIALS = "mloop.tune.n_trials"
TAG_TUNE_BEST_TRIAL = "mloop.tune.best_trial"
TAG_TUNE_BEST_PARAMS = "mloop.tune.best_params"
TAG_TUNE_BEST_TRIAL_RUN_ID = "mloop.tune.best_trial_run_id"
TAG_TUNE_BEST_MODEL_SOURCE = "mloop.tune.best_model_source"
TAG_TUNE_TRIAL = "mloop.tune.trial"
TAG_TUNE_STATE = "mloop.tune.state"
TAG_TUNE_PRUNED_STEP = "mloop.tune.pruned_step"
TAG_TUNE_TRACEBACK = "mloop.tune.traceback"

# -- evaluation and gates -----------------------------------------------------------------------

#: On an evaluation run: the model and the data it was evaluated on.
TAG_EVALUATION_MODEL_URI = "mloop.evaluation.model_uri"
TAG_EVALUATION_DATA = "mloop.evaluation.data"
#: On a model version: its latest evaluation run.
TAG_VERSION_EVALUATION_RUN = "mloop.evaluation_run"
#: On a model version: the report of the last gate it went through.
TAG_VERSION_GATE = "mloop.gate.last"
