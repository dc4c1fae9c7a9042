"""`xlner reproduce`: the paper's experiments on the public data, end to end, for one or more recipes.

A recipe is how every run of the reproduction trains: overrides of `xlner train`'s defaults
(`--recipes`, listed below), for the English source and the Japanese runs alike. "paper" is the
paper's model and schedule, "best" xlner's defaults (what `xlner train` does without flags); the
others take one part of "best" away at a time; `--recipes paper,best` runs them side by side.

The full plan, sized to finish within 3 hours at --jobs 2 on 2 cores: recipe "best", scratch against
transfer of char + classifier at 250, 500, 1,000, 2,000 sentences and the full set (3 seeds each), and
the paper's module-combination table at 250 and 500 (seed 1; `word` carried by translated rows), and the
zero-shot score of each transfer method (OUTPUT_DIR/zero-shot/). Flags widen it: every combination
(`--combinations`), the paper's recipe, the romanisation ablation (`--ablation-size`).

Per recipe: English pretraining on CoNLL-2003 (into OUTPUT_DIR/english for "best",
OUTPUT_DIR/english-RECIPE otherwise; scratch runs train beside it when --jobs allows), then Japanese
(Stockmark Wikipedia NER) from scratch against transfer of each module combination, over training
sizes and seeds, plus the romanisation ablation. Transfer is the paper's plain copy unless the plan
names other transfer methods (`--transfer-methods`, listed below): each then runs with every combination it applies to,
the code-switched ones from their own source (OUTPUT_DIR/english-code-switch[-RECIPE]), the
word-space ones with the chiVe -> GloVe map built once into OUTPUT_DIR/ja_en_map.pt, the self-training ones
from their teacher (the same run without self-training) with the rest of the training split as unlabelled text.
Every run lands in OUTPUT_DIR/runs/<name>/results.json; a run whose
results.json exists is not run again, so an interrupted reproduction picks up where it stopped.
The summary is OUTPUT_DIR/results.json, results.md and learning_curve.png, the recipes side by side.
"""

import json
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .options import TrainingOptions, TransferOptions
from .results import Results, RunRecord

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Recipes: TrainingOptions fields a recipe sets, over the defaults (which are xlner's best recipe,
# tuned in options.py: nothing of it is repeated here). Applied to the English source and the
# Japanese runs alike; English has no part of speech whatever the recipe (the trainer skips it).
RECIPES: dict[str, dict[str, Any]] = {
    # The paper's model (no pretrained vectors, no morphology, softmax head) and the schedule it was reproduced with.
    "paper": {"vectors": None, "part_of_speech": False, "crf": False, "batch_size": 32, "learning_rate": 2e-3, "lr_scheduler": "linear", "epochs": 80, "patience": 10},  # fmt: skip
    # xlner's defaults: what `xlner train` does without flags.
    "best": {},
    # The ablation of the best recipe, one part off at a time.
    "no-vectors": {"vectors": None},
    "no-pos": {"part_of_speech": False},
    "no-crf": {"crf": False},
    "paper-schedule": {"batch_size": 32, "learning_rate": 2e-3, "lr_scheduler": "linear", "epochs": 80, "patience": 10},
}
DEFAULT_RECIPE = "best"
# One line each, for `reproduce --help`.
RECIPE_HELP = {
    "paper": "the paper's model (no vectors, no POS, softmax head) and its schedule",
    "best": "xlner's defaults: what `xlner train` does without flags",
    "no-vectors": "best without pretrained word vectors",
    "no-pos": "best without the Japanese part-of-speech embedding",
    "no-crf": "best with a softmax head instead of the CRF",
    "paper-schedule": "best's model on the paper's schedule (batch, learning rate, epochs, patience)",
}
# The schedule's length, which a plan may override (`--epochs`, `--patience`); every other field
# a recipe sets defines it, and a finished run recorded with another value is not of the recipe.
SCHEDULE_LENGTH = ("epochs", "patience")

# The paper's module combinations; "classifier" is the word-level bi-LSTM plus the output layer.
COMBINATIONS = {
    "char": ("char",),
    "word": ("word",),
    "classifier": ("classifier",),
    "char+classifier": ("char", "classifier"),
    "char+word": ("char", "word"),
    "word+classifier": ("word", "classifier"),
    "all": ("word", "char", "classifier"),
}
# Romanisation ablation: (bigram input, word input) of the Japanese tokenizer.
INPUT_VARIANTS = {
    "char=romaji,word=japanese": ("romaji", "surface"),
    "char=japanese,word=japanese": ("surface", "surface"),
    "char=romaji,word=romaji": ("romaji", "romaji"),
    "char=japanese,word=romaji": ("surface", "romaji"),
}
DEFAULT_INPUT = "char=romaji,word=japanese"


@dataclass(frozen=True)
class TransferMethod:
    """How a transfer run uses the English source, besides copying its combination's modules."""

    code_switched_source: bool = False  # from the English source trained with code switching (CODE_SWITCH_RATE)
    word_space: bool = False  # the chiVe -> GloVe map carries `word` across (OUTPUT_DIR/ja_en_map.pt)
    script_shapes: bool = False  # Japanese script shapes start from the English shape of the same role
    joint: bool = False  # English CoNLL batches train beside the Japanese ones (training/joint.py)
    joint_finetune: bool = False  # with joint: then Japanese alone, every module from the joint run's model
    translated_word_rows: bool = False  # with the map: dictionary words start from their translation's row
    # Teacher-student (training/self_training.py): the run without it is the teacher; it tags the rest of the
    # training split, and a student that starts as it did trains on the labelled subset and those tags.
    self_training: bool = False
    self_training_teachers: int = 1  # with self_training: teachers whose majority the student learns (other seeds)
    self_training_scratch_teachers: int = 0  # of those, the last ones start from scratch (a scratch run's all do)
    self_training_partial_labels: bool = False  # words some teachers but no majority call a name are left unlabelled
    self_training_gold_copies: int = 1  # times the labelled subset appears in the student's data


# The transfer methods of benchmarks/transfer_methods.py, as flags of every combination's run (the
# benchmark fixes the modules; here the combination gives them). "copy" is the paper's method.
TRANSFER_METHODS: dict[str, TransferMethod] = {
    "copy": TransferMethod(),
    "shared-space": TransferMethod(word_space=True),
    "shared-space+shapes": TransferMethod(word_space=True, script_shapes=True),
    "code-switch": TransferMethod(code_switched_source=True),
    "code-switch+space+shapes": TransferMethod(code_switched_source=True, word_space=True, script_shapes=True),
    "joint": TransferMethod(joint=True),
    "joint+finetune": TransferMethod(joint=True, joint_finetune=True),
    "translated-rows": TransferMethod(word_space=True, script_shapes=True, translated_word_rows=True),
    "self-training": TransferMethod(self_training=True),
    "self-training+vote": TransferMethod(self_training=True, self_training_teachers=3),
    "self-training+mixed-vote": TransferMethod(self_training=True, self_training_teachers=5, self_training_scratch_teachers=2),
    "self-training+mixed-vote+partial": TransferMethod(
        self_training=True, self_training_teachers=5, self_training_scratch_teachers=2, self_training_partial_labels=True
    ),
    "self-training+mixed-vote+gold-x4": TransferMethod(
        self_training=True, self_training_teachers=5, self_training_scratch_teachers=2, self_training_gold_copies=4
    ),
    "translated-rows+self-training": TransferMethod(word_space=True, script_shapes=True, translated_word_rows=True, self_training=True),
    "translated-rows+self-training+mixed-vote": TransferMethod(
        word_space=True, script_shapes=True, translated_word_rows=True,
        self_training=True, self_training_teachers=5, self_training_scratch_teachers=2,
    ),  # fmt: skip
}
# Transfer methods that a scratch run may take too: they change how a run trains, not what it copies.
SCRATCH_METHODS = (
    "self-training", "self-training+vote", "self-training+mixed-vote", "self-training+mixed-vote+partial", "self-training+mixed-vote+gold-x4",
)  # fmt: skip
DEFAULT_TRANSFER_METHOD = "copy"  # adds nothing to a run's name: names from before transfer methods stay valid
# One line each, for `reproduce --help`.
TRANSFER_METHOD_HELP = {
    "copy": "the paper's sequential transfer: the combination's modules copied from the English source",
    "shared-space": "copy, with `word` carried across by the chiVe -> GloVe map (needs word and vectors)",
    "shared-space+shapes": "shared-space, and the Japanese script shapes start from English ones (needs char too)",
    "code-switch": "copy from an English source trained with code switching (rate 0.3)",
    "code-switch+space+shapes": "code-switch with the map and the script shapes (needs word, char and vectors)",
    "joint": "copy, then English CoNLL batches train beside the Japanese ones",
    "joint+finetune": "joint (its run of the same combination, size and seed), then Japanese-only fine-tuning of all its modules",
    "translated-rows": "shared-space+shapes, and dictionary words start from their English translation's row (ロンドン from london)",
    "self-training": "copy (its run of the same combination, size and seed) tags the rest of the training split; a student copied "
    "the same way trains on both (scratch too: scratch__...__self-training); zero-shot: the teacher is the zero-shot model, "
    "and the student learns its tags of the training texts alone",
    "translated-rows+self-training": "self-training with translated-rows as the teacher and the student",
    "translated-rows+self-training+mixed-vote": "self-training+mixed-vote with translated-rows as the copied teachers and the student "
    "(the module table's form of the mixed vote for combinations with word)",
    "self-training+vote": "self-training with three teachers, its run and two more on the same subset (seeds +100, +200); "
    "the student learns the entities that two of them find (scratch too)",
    "self-training+mixed-vote": "self-training with five teachers, its run, two more copied the same way and two from "
    "scratch (seeds +100 to +400); the student learns the entities that three of them find (scratch: five from scratch)",
    "self-training+mixed-vote+partial": "self-training+mixed-vote, and the words that one or two teachers of five put in "
    "an entity are left unlabelled in the student's data instead of taught as outside",
    "self-training+mixed-vote+gold-x4": "self-training+mixed-vote, with the labelled subset four times in the student's data",
}
# The English source of the code-switched methods: the share of its words read as romaji (as in the benchmark).
CODE_SWITCH_RATE = 0.3
WORD_SPACE_MAP_FILE = "ja_en_map.pt"  # in OUTPUT_DIR, built once for every run that uses the word space
TEACHER_POOL_DIR = "teachers"  # OUTPUT_DIR/teachers/POOL: voting teachers, shared by runs (`teacher_pool`)

CONLL_FILES = {"train": "conll2003/train.txt", "validation": "conll2003/valid.txt", "test": "conll2003/test.txt"}
STOCKMARK_FILES = {
    "train": "ner-wikipedia-ja/train.jsonl",
    "validation": "ner-wikipedia-ja/validation.jsonl",
    "test": "ner-wikipedia-ja/test.jsonl",
}
STOCKMARK_URL = "https://raw.githubusercontent.com/stockmarkteam/ner-wikipedia-dataset/main/ner.json"
CONLL_HUB_ID = "eriktks/conll2003"


def check_recipes(recipes: Iterable[str]) -> None:
    """ValueError naming the recipes when one of `recipes` is not a key of RECIPES."""
    unknown = [recipe for recipe in recipes if recipe not in RECIPES]
    if unknown:
        raise ValueError(f"unknown recipe {', '.join(map(repr, unknown))}; recipes: {', '.join(RECIPES)}")


def check_transfer_methods(transfer_methods: Iterable[str]) -> None:
    """ValueError naming the transfer methods when one of `transfer_methods` is not a key of TRANSFER_METHODS."""
    unknown = [name for name in transfer_methods if name not in TRANSFER_METHODS]
    if unknown:
        raise ValueError(
            f"unknown transfer method {', '.join(map(repr, unknown))}; transfer methods: {', '.join(TRANSFER_METHODS)}"
        )


def transfer_method_problem(recipe: str, combination: str, transfer_method: str) -> str | None:
    """Why a transfer method does not apply to a combination under a recipe (None: it does).

    The word-space map needs `word` transferred (`transfer` refuses it otherwise) and a recipe with
    vectors (the map is of them); the other way round, under a recipe with vectors, `word` crosses
    only by the map, since a plain copy cannot carry GloVe's 50-d projection onto chiVe's 300-d
    vectors. Script shapes act only where `char` is copied: without it a method is refused when
    the same method without shapes exists (the run would be that one's under another name);
    translated-rows, which has no such twin, then runs without them.
    """
    method, modules = TRANSFER_METHODS[transfer_method], COMBINATIONS[combination]
    vectors = recipe_options(recipe).vectors
    if not method.word_space and "word" in modules and vectors is not None:
        return (
            f"transfer method {transfer_method} copies word as it is, but recipe {recipe}'s vectors differ in width "
            f"across the languages (GloVe 50-d, chiVe 300-d): carry {combination} across with a word-space method "
            "(e.g. translated-rows)"
        )
    if method.word_space and "word" not in modules:
        return f"transfer method {transfer_method} maps the word vectors: it needs word among the modules, not {combination}"
    if method.word_space and vectors is None:
        return f"transfer method {transfer_method} maps the word vectors: recipe {recipe} has none"
    if method.script_shapes and "char" not in modules and replace(method, script_shapes=False) in TRANSFER_METHODS.values():
        return f"transfer method {transfer_method} sets the script shapes: it needs char among the modules, not {combination}"
    return None


def transfer_key(combination: str, transfer_method: str = DEFAULT_TRANSFER_METHOD) -> str:
    """A (combination, transfer method) pair as its run-name parts: `all`, `all__shared-space` (the default adds nothing).

    What `best_combination` returns and `plan_runs` takes; "scratch" is scratch's key.
    """
    return combination if transfer_method == DEFAULT_TRANSFER_METHOD else f"{combination}__{transfer_method}"


def split_transfer_key(key: str) -> tuple[str, str]:
    """`all__shared-space` → ("all", "shared-space"); `all` → ("all", "copy")."""
    combination, _, transfer_method = key.partition("__")
    return combination, transfer_method or DEFAULT_TRANSFER_METHOD


def transfer_label(combination: str, transfer_method: str = DEFAULT_TRANSFER_METHOD) -> str:
    """A (combination, transfer method) pair in the tables: `all`, `all (shared-space)`."""
    return combination if transfer_method == DEFAULT_TRANSFER_METHOD else f"{combination} ({transfer_method})"


def recipe_options(recipe: str, epochs: int | None = None, patience: int | None = None, **fields: Any) -> TrainingOptions:
    """The TrainingOptions of a run of `recipe`: the defaults, the recipe's overrides, then `fields`.

    `epochs` / `patience` None keep the recipe's (a plan's explicit value overrides every recipe).
    """
    check_recipes([recipe])
    schedule = {name: value for name, value in (("epochs", epochs), ("patience", patience)) if value is not None}
    return TrainingOptions(**{**RECIPES[recipe], **schedule, **fields})


def recipe_mismatches(result: Results, recipe: str) -> list[str]:
    """How a finished run's recorded options differ from what `recipe` sets today (empty: it is the recipe's).

    Only the fields some recipe sets count, less the schedule's length. A run from before recipes
    (no `crf` recorded, ...) or from before the defaults changed differs; it is kept all the same,
    because a run with a results.json is never trained again.
    """
    options = recipe_options(recipe)
    expected = asdict(options)
    # results.json records the batch size the default (None) resolved to for the run's training size.
    resolved = {"batch_size": options.train_batch_size(result.data.train_sentences)}
    names = sorted({name for overrides in RECIPES.values() for name in overrides} - set(SCHEDULE_LENGTH))
    missing = object()
    return [
        f"{name}={'(not recorded)' if result.options.get(name, missing) is missing else repr(result.options[name])} "
        f"(recipe: {expected[name]!r})"
        for name in names
        if result.options.get(name, missing) not in (expected[name], resolved.get(name, expected[name]))
    ]


def source_dir(output_dir: Path, recipe: str, code_switched: bool = False) -> Path:
    """Where a recipe's English source is trained: OUTPUT_DIR/english for the default recipe, else english-RECIPE;
    the code-switched one (CODE_SWITCH_RATE) in english-code-switch[-RECIPE]."""
    name = "english-code-switch" if code_switched else "english"
    return output_dir / (name if recipe == DEFAULT_RECIPE else f"{name}-{recipe}")


@dataclass
class Plan:
    """Which runs make up a reproduction; None in epochs / patience (English or Japanese): each recipe's."""

    recipes: tuple[str, ...] = ("paper", "best")
    english_train_samples: int | None = None
    english_epochs: int | None = None
    english_patience: int | None = None
    sizes: tuple[int, ...] = (250, 500, 1000, 2000)
    seeds: tuple[int, ...] = (1, 2, 3)
    combinations: tuple[str, ...] = tuple(COMBINATIONS)
    # Each runs with every combination (and recipe) it applies to (`transfer_method_problem`).
    transfer_methods: tuple[str, ...] = (DEFAULT_TRANSFER_METHOD,)
    full_set: bool = True  # the full training set: scratch, the best combination and full_set_combinations
    full_set_combinations: tuple[str, ...] = ("char+classifier",)  # with copy, besides scratch and the best
    # The paper's module-combination table: every combination of COMBINATIONS at these sizes and seeds,
    # with module_table_method where it applies and copy elsewhere, self-trained as that method is
    # (`module_table_runs`); None: the best transfer method (the table then waits for the grid to choose it).
    module_table_sizes: tuple[int, ...] = ()
    module_table_seeds: tuple[int, ...] = (1,)
    module_table_method: str | None = None
    ablation_size: int | None = 500
    # Zero-shot (no Japanese labels) of every transfer method of the plan but joint, per recipe (`zero_shot_runs`).
    zero_shot: bool = False
    epochs: int | None = None
    patience: int | None = None
    # How transfer runs treat the copied modules (see `TransferOptions`).
    shared_bigrams: bool = True
    freeze_transferred_epochs: int = 0
    transferred_lr_scale: float | None = None
    source_anchor: float = 0.0
    # XLNerConfig hyperparameters of every run, English and Japanese (`--set`); empty: the defaults.
    model_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_recipes(self.recipes)  # a typo fails before any training (also through `replace`)
        check_transfer_methods([*self.transfer_methods, *([self.module_table_method] if self.module_table_method else [])])
        if unknown := [name for name in self.combinations if name not in COMBINATIONS]:
            raise ValueError(f"unknown combination {', '.join(map(repr, unknown))}; combinations: {', '.join(COMBINATIONS)}")
        pairs = [(recipe, combination) for recipe in self.recipes for combination in self.combinations]
        for transfer_method in self.transfer_methods:
            problems = [transfer_method_problem(recipe, combination, transfer_method) for recipe, combination in pairs]
            if problems and all(problems):  # a method that would run nowhere is a mistake, not an empty grid
                raise ValueError(f"no run of the plan has transfer method {transfer_method}: {problems[0]}")


# Sized to finish within 3 hours at --jobs 2 on 2 cores (issue 14): the best recipe's scratch and its best
# transfer (char + classifier copied: no designed method is ahead of it by much more than a standard
# deviation at any size, and all of them together take more than 3 hours; README) at every size with
# 3 seeds, the full set included, and the paper's module table at 250 and 500 (seed 1), where combinations
# with `word` carry it across the scripts by translated rows (a plain copy cannot: GloVe and chiVe differ
# in width). The paper's recipe is one flag away (`--recipes paper,best`); every combination, transfer
# method and the romanisation ablation are flags too.
FULL_PLAN = Plan(
    recipes=("best",),
    combinations=("char+classifier",),
    full_set_combinations=(),
    module_table_sizes=(250, 500),
    module_table_method="translated-rows",
    ablation_size=None,
    zero_shot=True,
)
# Small: one recipe, two sizes (200, 400), one seed, one combination, no input ablation. Every Japanese run trains
# to the recipe's early stopping, so that the gain it shows is one at convergence; the English source,
# there only to be transferred from, is small and short (1,500 sentences, 10 epochs) to fit 10 minutes.
QUICK_PLAN = Plan(
    recipes=("best",),
    english_train_samples=1500,
    english_epochs=10,
    sizes=(200, 400),  # 250 / 500 took 10.5 min on a slow day
    seeds=(1,),
    combinations=("char+classifier",),
    full_set=False,
    full_set_combinations=(),
    ablation_size=None,
)


def _encode_inputs(inputs: str) -> str:
    """An input variant as a name part: char=romaji,word=japanese → char-romaji_word-japanese."""
    return inputs.replace(",", "_").replace("=", "-")


@dataclass(frozen=True)
class Run:
    """One Japanese training run."""

    method: str  # "scratch" or a key of COMBINATIONS
    size: int | None  # None: the full training set
    seed: int
    inputs: str = DEFAULT_INPUT
    recipe: str = DEFAULT_RECIPE
    transfer_method: str = DEFAULT_TRANSFER_METHOD  # a key of TRANSFER_METHODS; scratch: always the default

    @property
    def name(self) -> str:
        """METHOD__nSIZE__seedN, then __INPUTS, __RECIPE and __TRANSFER where not the default (so older names stay valid)."""
        size = "full" if self.size is None else str(self.size)
        inputs = "" if self.inputs == DEFAULT_INPUT else "__" + _encode_inputs(self.inputs)
        recipe = "" if self.recipe == DEFAULT_RECIPE else "__" + self.recipe
        transfer = "" if self.transfer_method == DEFAULT_TRANSFER_METHOD else "__" + self.transfer_method
        return f"{self.method}__n{size}__seed{self.seed}{inputs}{recipe}{transfer}"

    @property
    def transfer(self) -> TransferMethod:
        return TRANSFER_METHODS[self.transfer_method]

    @classmethod
    def from_name(cls, name: str) -> "Run":
        """The run a name (as in OUTPUT_DIR/runs) stands for: `char+classifier__n500__seed1[__INPUTS][__RECIPE][__TRANSFER]`.

        The transfer method is the last part when it is a key of TRANSFER_METHODS, then the recipe
        when it is a key of RECIPES; only the name `Run.name` gives is accepted (no `__best`, no
        `__copy`, no `n0500`), so that one run has one folder.
        """
        parts = name.split("__")
        transfer_method = parts.pop() if len(parts) > 3 and parts[-1] in TRANSFER_METHODS else DEFAULT_TRANSFER_METHOD
        recipe = parts.pop() if len(parts) > 3 and parts[-1] in RECIPES else DEFAULT_RECIPE
        try:
            method, size, seed = parts[0], parts[1].removeprefix("n"), int(parts[2].removeprefix("seed"))
            inputs = parts[3].replace("_", ",").replace("-", "=") if len(parts) == 4 else DEFAULT_INPUT
            run = cls(method, None if size == "full" else int(size), seed, inputs, recipe, transfer_method)
        except (IndexError, ValueError):
            run = None
        valid = run is not None and len(parts) <= 4 and run.method in ("scratch", *COMBINATIONS)
        if not valid or run.inputs not in INPUT_VARIANTS or run.name != name:
            # A last part that is no input variant (those start with "char-") was meant as a recipe or transfer method.
            meant = len(parts) > 3 and not parts[-1].startswith("char-")
            unknown = f"unknown recipe or transfer method {parts[-1]!r}; " if meant else ""
            others = [recipe for recipe in RECIPES if recipe != DEFAULT_RECIPE]
            inputs = [_encode_inputs(variant) for variant in INPUT_VARIANTS if variant != DEFAULT_INPUT]
            transfers = [method for method in TRANSFER_METHODS if method != DEFAULT_TRANSFER_METHOD]
            raise ValueError(
                f"run name {name!r}: {unknown}expected METHOD__nSIZE__seedN[__INPUTS][__RECIPE][__TRANSFER], "
                f"METHOD scratch or one of {', '.join(COMBINATIONS)}, SIZE a number or 'full', INPUTS one of {', '.join(inputs)} "
                f"(none: {_encode_inputs(DEFAULT_INPUT)}), RECIPE one of {', '.join(others)} (none: {DEFAULT_RECIPE}), "
                f"TRANSFER one of {', '.join(transfers)} (none: {DEFAULT_TRANSFER_METHOD}; for scratch only {', '.join(SCRATCH_METHODS)}) "
                "(e.g. char+classifier__n500__seed1, scratch__n500__seed1__paper, all__n500__seed1__shared-space)"
            )
        if run.method == "scratch" and run.transfer_method not in (DEFAULT_TRANSFER_METHOD, *SCRATCH_METHODS):
            raise ValueError(f"run name {name!r}: a scratch run transfers nothing, so it takes no transfer method")
        if run.method != "scratch" and (problem := transfer_method_problem(run.recipe, run.method, run.transfer_method)):
            raise ValueError(f"run name {name!r}: {problem}")
        return run


@dataclass
class Context:
    """What every run of a reproduction needs; `sources` maps (recipe, code-switched) to an English source."""

    data: dict[str, dict[str, str]]
    sources: dict[tuple[str, bool], str]
    output_dir: Path
    plan: Plan
    threads: int = 1


# ---------------------------------------------------------------------------------- data


def local_data(data_dir: Path) -> dict[str, dict[str, str]]:
    """The shared-data layout: conll2003/*.txt and ner-wikipedia-ja/*.jsonl."""
    data = {
        "en": {split: str(data_dir / path) for split, path in CONLL_FILES.items()},
        "ja": {split: str(data_dir / path) for split, path in STOCKMARK_FILES.items()},
    }
    missing = [path for files in data.values() for path in files.values() if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"--data-dir {data_dir}: missing {', '.join(missing)}")
    return data


def fetch_public_data(destination: Path) -> dict[str, dict[str, str]]:
    """Download CoNLL-2003 (through `datasets`) and Stockmark's ner.json, split the standard way.

    The Japanese split is the widely used one: `random.seed(42); random.shuffle(data)`, then
    80% / 10% / 10% for train / validation / test.
    """
    import urllib.request

    from .data import load_hub_split

    destination.mkdir(parents=True, exist_ok=True)
    try:
        for split, path in CONLL_FILES.items():
            target = destination / path
            if not target.exists():
                dataset = load_hub_split(CONLL_HUB_ID, split)
                target.parent.mkdir(parents=True, exist_ok=True)
                lines = ["\n".join(f"{t} {g}" for t, g in zip(ex["tokens"], ex["ner_tags"])) + "\n" for ex in dataset]
                target.write_text("\n".join(lines), encoding="utf-8")
        if not all((destination / path).exists() for path in STOCKMARK_FILES.values()):
            with urllib.request.urlopen(STOCKMARK_URL, timeout=60) as response:
                records = json.loads(response.read().decode("utf-8"))
            random.Random(42).shuffle(records)  # the same permutation as random.seed(42); random.shuffle(...)
            n_train, n_validation = int(len(records) * 0.8), int(len(records) * 0.9)
            parts = {"train": records[:n_train], "validation": records[n_train:n_validation], "test": records[n_validation:]}
            for split, path in STOCKMARK_FILES.items():
                target = destination / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in parts[split]), encoding="utf-8")
    except Exception as error:  # no network, Hub down, dataset moved: say so plainly
        raise SystemExit(
            f"xlner reproduce: cannot download the public data ({type(error).__name__}: {error}).\n"
            f"Tried the Hub dataset {CONLL_HUB_ID} and {STOCKMARK_URL}. "
            "Pass --data-dir with conll2003/{train,valid,test}.txt and ner-wikipedia-ja/{train,validation,test}.jsonl."
        ) from None
    return local_data(destination)


# ---------------------------------------------------------------------------------- runs


def transfer_pairs(plan: Plan, recipe: str) -> list[tuple[str, str]]:
    """(combination, transfer method) of a recipe's transfer runs: each method with every combination it applies to."""
    return [
        (combination, transfer_method)
        for transfer_method in plan.transfer_methods
        for combination in plan.combinations
        if transfer_method_problem(recipe, combination, transfer_method) is None
    ]


def plan_runs(plan: Plan, best_combination: str | Mapping[str, str | None] | None = None) -> list[Run]:
    """Per recipe: scratch and every (transfer method, combination) at every size and seed; the full set; the ablation.

    `best_combination` is each recipe's best (combination, transfer method) as a `transfer_key`
    (a mapping), or one for every recipe. Runs of one size and seed come together across recipes,
    so that a reproduction cut short still compares the recipes.
    """
    best = best_combination if isinstance(best_combination, Mapping) else dict.fromkeys(plan.recipes, best_combination)
    runs = [
        run
        for size in plan.sizes
        for seed in plan.seeds
        for recipe in plan.recipes
        for run in [
            Run("scratch", size, seed, recipe=recipe),
            *(Run("scratch", size, seed, recipe=recipe, transfer_method=m) for m in plan.transfer_methods if m in SCRATCH_METHODS),
            *(
                Run(combination, size, seed, recipe=recipe, transfer_method=method)
                for combination, method in transfer_pairs(plan, recipe)
            ),
        ]
    ]
    for recipe in plan.recipes:
        chosen = split_transfer_key(best[recipe]) if best.get(recipe) else None
        full = [("scratch", DEFAULT_TRANSFER_METHOD), *((c, DEFAULT_TRANSFER_METHOD) for c in plan.full_set_combinations)]
        if chosen and chosen not in full and not TRANSFER_METHODS[chosen[1]].self_training:  # the full set leaves no text to tag
            full.append(chosen)
        if plan.full_set:
            runs += [Run(method, None, seed, recipe=recipe, transfer_method=transfer) for seed in plan.seeds for method, transfer in full]
        if plan.module_table_sizes and (plan.module_table_method or chosen):
            runs += module_table_runs(plan, recipe, plan.module_table_method or chosen[1])
        if plan.ablation_size:
            # Scratch and the best transfer (before it is known: the first pair; none without combinations).
            pairs = transfer_pairs(plan, recipe)
            transfer = [chosen or pairs[0]] if chosen or pairs else []
            runs += [
                Run(method, plan.ablation_size, seed, inputs, recipe, transfer_method)
                for inputs in INPUT_VARIANTS
                if inputs != DEFAULT_INPUT or plan.ablation_size not in plan.sizes
                for seed in plan.seeds
                for method, transfer_method in [("scratch", DEFAULT_TRANSFER_METHOD), *transfer]
            ]
    return list(dict.fromkeys(runs))


def module_table_runs(plan: Plan, recipe: str, transfer_method: str) -> list[Run]:
    """Every combination at the plan's module-table sizes and seeds, with the first of these that applies to it:
    `transfer_method`; copy, trained as `transfer_method` trains (self-training, teachers); that with `word` carried
    by translated rows (the table compares modules, not ways of training). A combination none applies to is left
    out, with a warning (vectors of different widths leave `word` nothing to copy as it is)."""
    method = TRANSFER_METHODS[transfer_method]
    training = {
        "self_training": method.self_training,
        "self_training_teachers": method.self_training_teachers,
        "self_training_scratch_teachers": method.self_training_scratch_teachers,
        "self_training_partial_labels": method.self_training_partial_labels,
        "self_training_gold_copies": method.self_training_gold_copies,
    }
    ways = [TransferMethod(**training), TransferMethod(word_space=True, script_shapes=True, translated_word_rows=True, **training)]
    candidates = [transfer_method, *(name for way in ways for name, known in TRANSFER_METHODS.items() if known == way)]
    runs = []
    for combination in COMBINATIONS:
        chosen = next((name for name in candidates if not transfer_method_problem(recipe, combination, name)), None)
        if chosen is None:
            logger.warning("module table: no transfer method like %s applies to %s with recipe %s; left out", transfer_method, combination, recipe)
            continue
        runs += [Run(combination, size, seed, recipe=recipe, transfer_method=chosen) for size in plan.module_table_sizes for seed in plan.module_table_seeds]
    return sorted(runs, key=lambda run: (plan.module_table_sizes.index(run.size), plan.module_table_seeds.index(run.seed)))


def word_space_map_path(output_dir: Path) -> Path:
    return output_dir / WORD_SPACE_MAP_FILE


def transfer_setup(run: Run, context: Context) -> tuple[str, TransferOptions]:
    """The English source and the TransferOptions of a transfer run, from its combination and transfer method."""
    method, plan = run.transfer, context.plan
    transfer_options = TransferOptions(
        modules=COMBINATIONS[run.method],
        shared_bigrams=plan.shared_bigrams,
        freeze_transferred_epochs=plan.freeze_transferred_epochs,
        transferred_lr_scale=plan.transferred_lr_scale,
        source_anchor=plan.source_anchor,
        word_space_map=str(word_space_map_path(context.output_dir)) if method.word_space else None,
        script_shapes=method.script_shapes and "char" in COMBINATIONS[run.method],
        joint_data=context.data["en"]["train"] if method.joint else None,
        translated_word_rows=method.translated_word_rows,
    )
    # The recipe's own source (its head and inputs match the run's), code-switched where the method says.
    return context.sources[(run.recipe, method.code_switched_source)], transfer_options


def _run_one(run: Run, context: Context) -> Results:
    """Train one Japanese model (in a worker process) and return its results, with the run record."""
    from .trainer import train
    from .transfer import transfer

    output = context.output_dir / "runs" / run.name
    done = output / "results.json"
    if done.exists():
        results = Results.load(done)
        if mismatches := recipe_mismatches(results, run.recipe):
            logger.warning(
                "%s: kept, but trained with other options than recipe %s's: %s", done, run.recipe, ", ".join(mismatches)
            )
        return results
    char_input, word_input = INPUT_VARIANTS[run.inputs]
    plan = context.plan
    options = recipe_options(
        run.recipe,
        epochs=plan.epochs,
        patience=plan.patience,
        max_train_samples=run.size,
        seed=run.seed,
        threads=context.threads,
        tokenizer_options={"char_input": char_input, "word_input": word_input},
        model_config=plan.model_config,
    )
    files = context.data["ja"]
    started = time.perf_counter()
    if run.transfer.self_training:
        results = _self_train_one(run, context, options)
    elif run.method == "scratch":
        results = train("ja", files["train"], files["validation"], output, options, files["test"])
    elif run.transfer.joint_finetune:
        from .transfer import finetune_joint_model

        joint_run = joint_stage(run)
        _run_one(joint_run, context)  # kept when done (run_all runs the joint runs first)
        joint_dir = context.output_dir / "runs" / joint_run.name
        results = finetune_joint_model(joint_dir, "ja", files["train"], files["validation"], output, options, files["test"])
    else:
        source, transfer_options = transfer_setup(run, context)
        results = transfer(source, "ja", files["train"], files["validation"], output, options, transfer_options, files["test"])
    results.run = RunRecord(**asdict(run), name=run.name, wall_seconds=time.perf_counter() - started)
    results.save(done)  # written last: its presence marks the run as done
    _drop_checkpoints(output)
    return results


def _self_train_one(run: Run, context: Context, options: TrainingOptions) -> Results:
    """A self-training run: its teacher is the run without self-training (trained first when not done yet); its
    student trains as the teacher did, on the teacher's training subset and the rest of the training split tagged."""
    from .self_training import self_train
    from .trainer import train
    from .transfer import transfer

    teacher = teacher_stage(run)
    _run_one(teacher, context)  # kept when done (run_all runs the teachers first)
    files = context.data["ja"]

    def scratch_stage(train_file: str, output: Path, stage_options: TrainingOptions) -> Results:
        return train("ja", train_file, files["validation"], output, stage_options, files["test"])

    stage, scratch_teachers = scratch_stage, 0  # a scratch run's teachers all start from scratch
    if run.method != "scratch":
        source, transfer_options = transfer_setup(run, context)
        scratch_teachers = run.transfer.self_training_scratch_teachers

        def stage(train_file: str, output: Path, stage_options: TrainingOptions) -> Results:
            return transfer(source, "ja", train_file, files["validation"], output, stage_options, transfer_options, files["test"])

    output = context.output_dir / "runs" / run.name
    options = replace(
        options, unlabeled_data=files["train"], self_training_teachers=run.transfer.self_training_teachers,
        self_training_scratch_teachers=scratch_teachers, self_training_partial_labels=run.transfer.self_training_partial_labels,
        self_training_gold_copies=run.transfer.self_training_gold_copies,
    )  # fmt: skip
    teacher_dir = context.output_dir / "runs" / teacher.name
    pool = teacher_pool(run)
    teachers_dir = context.output_dir / TEACHER_POOL_DIR / pool if pool else None
    return self_train(stage, files["train"], output, options, teacher_dir, scratch_stage, teachers_dir)


def _drop_checkpoints(output: Path) -> None:
    """Grid runs keep the final model and results; intermediate checkpoints would fill the disk."""
    import shutil

    shutil.rmtree(output / "checkpoints", ignore_errors=True)


def _map(function: Callable[[Any, Context], T], items: list[Any], context: Context, jobs: int) -> list[T]:
    """`function(item, context)` for every item, in up to `jobs` worker processes, results in order."""
    if jobs <= 1 or len(items) <= 1:
        return [function(item, context) for item in items]
    import multiprocessing

    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(function, items, [context] * len(items)))


def _pretrain_source(key: tuple[str, bool], context: Context) -> str:
    """`pretrain_english` of a (recipe, code-switched) key, for `_map`."""
    recipe, code_switched = key
    return pretrain_english(recipe, context, code_switched=code_switched)


def _pretrain_source_or_run(item: tuple[str, bool] | Run, context: Context) -> str | Results:
    """`_pretrain_source` of a source key, `_run_one` of a run: one pool for both (`reproduce`)."""
    return _run_one(item, context) if isinstance(item, Run) else _pretrain_source(item, context)


def build_word_space_map_file(output_dir: Path) -> str:
    """OUTPUT_DIR/ja_en_map.pt, built once as `xlner word-space` builds it by default (chiVe -> GloVe 6B 50d)."""
    from .word_space import build_word_space_map

    path = word_space_map_path(output_dir)
    if not path.is_file():
        print(f"Word-space map (chiVe -> GloVe) into {path} ...", file=sys.stderr)
        partial = path.with_name(f".{path.name}.tmp")
        build_word_space_map().save(partial)
        partial.replace(path)  # a map cut short is never taken for a built one
    return str(path)


def joint_stage(run: Run) -> Run:
    """The joint run that a joint+finetune run fine-tunes: the same run with the transfer method minus the fine-tuning."""
    stage = replace(run.transfer, joint_finetune=False)
    return replace(run, transfer_method=next(name for name, method in TRANSFER_METHODS.items() if method == stage))


def teacher_stage(run: Run) -> Run:
    """The run whose model teaches a self-training run: the same run without self-training."""
    stage = replace(
        run.transfer, self_training=False, self_training_teachers=1, self_training_scratch_teachers=0,
        self_training_partial_labels=False, self_training_gold_copies=1,
    )  # fmt: skip
    return replace(run, transfer_method=next(name for name, method in TRANSFER_METHODS.items() if method == stage))


def teacher_pool(run: Run) -> str | None:
    """The folder (under OUTPUT_DIR/teachers) of a voting run's teachers after the first, shared by the runs that
    differ only in how their student learns (partial labels, gold copies); None without voting teachers."""
    method = run.transfer
    if method.self_training_teachers == 1:
        return None
    scratch = method.self_training_scratch_teachers if run.method != "scratch" else 0
    return f"{teacher_stage(run).name}__teachers{method.self_training_teachers}" + (f"-scratch{scratch}" if scratch else "")


def run_all(runs: list[Run], context: Context, jobs: int) -> list[Results]:
    """`_run_one` of every run, results in order; the runs that build on another (joint+finetune on its joint
    run, self-training on its teacher) after the rest, so that two workers never train one run twice (each
    trains the run it builds on itself when the list lacks it). Of the self-training runs that share a teacher
    pool, the first trains the pool, and the others wait for a later round."""
    first = [run for run in runs if not (run.transfer.joint_finetune or run.transfer.self_training)]
    rounds = [first]
    for run in (run for run in runs if run not in first):
        pool = teacher_pool(run)
        free = [batch for batch in rounds[1:] if pool is None or pool not in map(teacher_pool, batch)]
        if free:
            free[0].append(run)
        else:
            rounds.append([run])
    results = {}
    for batch in rounds:
        results |= dict(zip(batch, _map(_run_one, batch, context, jobs)))
    return [results[run] for run in runs]


def run_plan(plan: Plan, context: Context, jobs: int) -> list[Results]:
    """The size grid first; its validation scores pick each recipe's best combination for the full set and ablation."""
    grid = plan_runs(replace(plan, full_set=False, module_table_sizes=(), ablation_size=None))
    print(f"{len(grid)} Japanese runs in the size grid ...", file=sys.stderr)
    results = run_all(grid, context, jobs)
    best = best_combinations(summarize(results))
    extra = [run for run in plan_runs(plan, best) if run not in grid]
    chosen = ", ".join(f"{recipe}: {_key_label(best[recipe]) if best.get(recipe) else None}" for recipe in plan.recipes)
    print(f"{len(extra)} more runs (full set, ablation; best combination {chosen}) ...", file=sys.stderr)
    return results + run_all(extra, context, jobs)


def pretrain_english(recipe: str, context: Context, seed: int = 1, code_switched: bool = False) -> str:
    """Train a recipe's English source on CoNLL-2003 (skipped when its results.json exists); returns its folder.

    The recipe's options, except the plan's english_* settings where set; `code_switched`: with
    code_switch_rate CODE_SWITCH_RATE (the code-switched transfer methods' source). An existing
    source of other options (one from before recipes, say) is refused: transfer from it would not be the recipe's.
    """
    from .trainer import train

    output = source_dir(context.output_dir, recipe, code_switched)
    done = output / "results.json"
    code_switch_rate = CODE_SWITCH_RATE if code_switched else 0.0
    if done.exists():
        existing = Results.load(done)
        mismatches = recipe_mismatches(existing, recipe)
        if (recorded := existing.options.get("code_switch_rate", 0.0)) != code_switch_rate:
            mismatches.append(f"code_switch_rate={recorded!r} (expected: {code_switch_rate!r})")
        if mismatches:
            raise ValueError(
                f"{output}: an English source trained with other options than recipe {recipe}'s ({', '.join(mismatches)}); "
                f"move it away (or pass {'--code-switch-source' if code_switched else '--source'}) to use this output directory"
            )
        return str(output)
    plan, files = context.plan, context.data["en"]
    options = recipe_options(
        recipe,
        epochs=plan.english_epochs,
        patience=plan.english_patience,
        max_train_samples=plan.english_train_samples,
        seed=seed,
        threads=context.threads,
        model_config=plan.model_config,
        code_switch_rate=code_switch_rate,
    )
    train("en", files["train"], files["validation"], output, options, files["test"])
    _drop_checkpoints(output)
    return str(output)


# ---------------------------------------------------------------------------------- zero-shot

# A zero-shot run tags with the English head, so its combination has the classifier: the widest one
# that the transfer method applies to (copy under a recipe with vectors: char+classifier).
ZERO_SHOT_COMBINATIONS = ("all", "char+classifier", "word+classifier", "classifier")
ZERO_SHOT_DIR = "zero-shot"  # OUTPUT_DIR/zero-shot/<name>/zero_shot.json


@dataclass(frozen=True)
class ZeroShotRun:
    """The English source of a recipe applied to the Japanese test set with no Japanese labels (zero_shot.py)."""

    transfer_method: str
    combination: str
    recipe: str = DEFAULT_RECIPE

    @property
    def name(self) -> str:
        """TRANSFER[__RECIPE]: one zero-shot run per (transfer method, recipe)."""
        return self.transfer_method + ("" if self.recipe == DEFAULT_RECIPE else f"__{self.recipe}")

    def as_run(self) -> Run:
        """The transfer run whose source and TransferOptions (`transfer_setup`) it uses; seed 1."""
        return Run(self.combination, None, 1, recipe=self.recipe, transfer_method=self.transfer_method)


def zero_shot_runs(plan: Plan) -> list[ZeroShotRun]:
    """Per recipe, every transfer method of the plan (module table's included) but joint and voting self-training,
    which train on Japanese labels, with its widest combination with the classifier (ZERO_SHOT_COMBINATIONS)."""
    if not plan.zero_shot:
        return []
    methods = dict.fromkeys([*plan.transfer_methods, *([plan.module_table_method] if plan.module_table_method else [])])
    runs = []
    for recipe in plan.recipes:
        for method in methods:
            applies = [c for c in ZERO_SHOT_COMBINATIONS if transfer_method_problem(recipe, c, method) is None]
            # Joint trains on Japanese labels, and voting teachers are trained on them.
            if not TRANSFER_METHODS[method].joint and TRANSFER_METHODS[method].self_training_teachers == 1 and applies:
                runs.append(ZeroShotRun(method, applies[0], recipe))
    return runs


def _zero_shot_one(run: ZeroShotRun, context: Context) -> dict[str, Any]:
    """Score one zero-shot run (kept when its zero_shot.json exists); returns that file's record, with the run."""
    from .transfer import transfer
    from .zero_shot import ZERO_SHOT_FILE

    output = context.output_dir / ZERO_SHOT_DIR / run.name
    done = output / ZERO_SHOT_FILE
    if not done.exists():
        source, transfer_options = transfer_setup(run.as_run(), context)
        files = context.data["ja"]
        options = recipe_options(
            run.recipe, seed=1, threads=context.threads, model_config=context.plan.model_config,
            unlabeled_data=files["train"] if run.as_run().transfer.self_training else None,
        )  # fmt: skip
        started = time.perf_counter()
        record = transfer(
            source, "ja", files["train"], files["validation"], output, options, replace(transfer_options, zero_shot=True), files["test"]
        )  # fmt: skip
        record["run"] = {**asdict(run), "name": run.name, "wall_seconds": time.perf_counter() - started}
        partial = output / f".{ZERO_SHOT_FILE}.tmp"
        partial.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        partial.replace(done)  # with its run record: a file without one is a zero-shot run cut short
    return json.loads(done.read_text(encoding="utf-8"))


def collect_zero_shot(output_dir: Path) -> list[dict[str, Any]]:
    """Every finished zero-shot run of OUTPUT_DIR/zero-shot, as in results.json: method, recipe, scores."""
    from .zero_shot import ZERO_SHOT_FILE

    rows = []
    for path in sorted((output_dir / ZERO_SHOT_DIR).glob(f"*/{ZERO_SHOT_FILE}")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if "run" not in record:
            raise ValueError(f"{path}: not a zero-shot run of xlner reproduce (no 'run' record)")
        per_type = record["test"].get("per_type") or {}
        rows.append({**record["run"], **{key: record["test"][key] for key in ("precision", "recall", "f1")}, "per_type_f1": {
            name: scores["f1"] for name, scores in sorted(per_type.items())
        }})  # fmt: skip
    return sorted(rows, key=lambda row: (_recipe_rank(row["recipe"]), list(TRANSFER_METHODS).index(row["transfer_method"])))


def zero_shot_table(rows: list[dict[str, Any]]) -> list[str]:
    """results.md's zero-shot table: a row per (recipe, transfer method), F1 ×100 with the types collapsed."""
    if not rows:
        return []
    types = sorted({name for row in rows for name in row["per_type_f1"]})
    lines = ["", "## Zero-shot: the English source on the Japanese test set, no Japanese labels (types collapsed, F1 ×100)", ""]
    lines += ["| recipe / transfer method (modules) | F1 | precision | recall | " + " | ".join(types) + " |"]
    lines += ["|---|---|---|---|" + "---|" * len(types)]
    for row in rows:
        cells = [f"{100 * row[key]:.1f}" for key in ("f1", "precision", "recall")]
        cells += [f"{100 * row['per_type_f1'][name]:.1f}" if name in row["per_type_f1"] else "" for name in types]
        lines.append(f"| {row['recipe']} / {row['transfer_method']} ({row['combination']}) | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------------------------- summary


def _run_record(result: Results) -> RunRecord:
    if result.run is None:
        raise ValueError("results without a 'run' record: not a run of xlner reproduce")
    return result.run


def _test_f1(result: Results) -> float:
    if result.test is None:
        raise ValueError(f"run {_run_record(result).name}: no test scores (every reproduce run is tested)")
    return result.test.f1


def _recipe_rank(recipe: str) -> int:
    """RECIPES order ("paper" before "best", then the ablation); a recipe unknown here last."""
    return list(RECIPES).index(recipe) if recipe in RECIPES else len(RECIPES)


def _size_rank(size: str) -> float:
    return float("inf") if size == "full" else int(size)


def summarize(results: list[Results]) -> dict[str, Any]:
    """Mean, standard deviation and range of test F1 per (recipe, method, transfer method, size, inputs); epochs to best."""
    groups: dict[tuple[str, str, str, str, str], list[Results]] = {}
    for result in results:
        run = _run_record(result)
        size = "full" if run.size is None else str(run.size)
        groups.setdefault((run.recipe, run.method, run.transfer_method, size, run.inputs), []).append(result)
    rows = []
    for (recipe, method, transfer_method, size, inputs), members in sorted(groups.items(), key=lambda item: _order(item[0])):
        test = [_test_f1(m) for m in members]
        validation = [m.validation.f1 for m in members]
        rows.append(
            {
                "recipe": recipe,
                "method": method,  # the combination (or scratch)
                "transfer_method": transfer_method,
                "size": size,
                "inputs": inputs,
                "seeds": [_run_record(m).seed for m in members],
                "test_f1_mean": statistics.fmean(test),
                "test_f1_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                "test_f1_min": min(test),
                "test_f1_max": max(test),
                "validation_f1_mean": statistics.fmean(validation),
                # A run without a best epoch (no evaluation) counts as its last.
                "best_epoch_mean": statistics.fmean(m.best_epoch or m.epochs_trained for m in members),
                "epochs_trained_mean": statistics.fmean(m.epochs_trained for m in members),
            }
        )
    return {"rows": rows}


def _order(key: tuple[str, str, str, str, str]) -> tuple:
    recipe, method, transfer_method, size, inputs = key
    methods, transfers = ["scratch", *COMBINATIONS], list(TRANSFER_METHODS)
    return (
        inputs != DEFAULT_INPUT, inputs, _recipe_rank(recipe), recipe, transfers.index(transfer_method), methods.index(method),
        _size_rank(size),
    )  # fmt: skip


def _row_key(row: dict[str, Any]) -> str:
    """A summary row's (combination, transfer method) as a `transfer_key` (rows of reports without it: copy)."""
    return transfer_key(row["method"], row.get("transfer_method", DEFAULT_TRANSFER_METHOD))


def _key_label(key: str) -> str:
    return transfer_label(*split_transfer_key(key))


def _recipes(summary: dict[str, Any]) -> list[str]:
    """The recipes of the summary's rows, in RECIPES order."""
    return sorted({row["recipe"] for row in summary["rows"]}, key=lambda recipe: (_recipe_rank(recipe), recipe))


def best_combination(summary: dict[str, Any], recipe: str = DEFAULT_RECIPE) -> str | None:
    """The recipe's (combination, transfer method) with the best mean VALIDATION F1 (test F1 is never used to
    choose), as a `transfer_key`: the combination alone for the default transfer method, `all__shared-space` else.

    Averaged over the sizes that every pair was run at, so that a pair run at more (larger) sizes
    than the others does not win by its larger training sets alone; and only the pairs with the most
    seeds at those sizes compete, so that one lucky seed (the module table's) never outranks a mean
    over three (the size grid's, which the plan carried to the full set).
    """
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for row in summary["rows"]:
        if row["recipe"] == recipe and row["method"] != "scratch" and row["inputs"] == DEFAULT_INPUT and row["size"] != "full":
            rows.setdefault(_row_key(row), {})[row["size"]] = row
    common = set.intersection(*(set(by_size) for by_size in rows.values())) if rows else set()
    if not common:
        return None
    seeds = {key: min(len(by_size[size]["seeds"]) for size in common) for key, by_size in rows.items()}
    contenders = [key for key in rows if seeds[key] == max(seeds.values())]
    return max(contenders, key=lambda key: statistics.fmean(rows[key][size]["validation_f1_mean"] for size in common))


def best_combinations(summary: dict[str, Any]) -> dict[str, str | None]:
    """Each recipe's best (combination, transfer method) (`best_combination`): a recipe's runs never choose another's."""
    return {recipe: best_combination(summary, recipe) for recipe in _recipes(summary)}


def collect_results(output_dir: Path) -> list[Results]:
    """The results of every finished run in OUTPUT_DIR/runs (those with a results.json)."""
    results = []
    for path in sorted((output_dir / "runs").glob("*/results.json")):
        result = Results.load(path)
        if result.run is None:
            raise ValueError(f"{path}: not a run of xlner reproduce (no 'run' record)")
        results.append(result)
    if not results:
        raise FileNotFoundError(f"{output_dir / 'runs'}: no finished run to report on")
    return results


def _cell(row: dict[str, Any]) -> str:
    """Mean ± std over seeds, ×100; a single seed says so instead of showing a zero spread."""
    if len(row["seeds"]) == 1:
        return f"{100 * row['test_f1_mean']:.1f} (1 seed)"
    return f"{100 * row['test_f1_mean']:.1f} ± {100 * row['test_f1_std']:.1f}"


def markdown_table(summary: dict[str, Any], best: Mapping[str, str | None]) -> str:
    """The recipes side by side: test F1 (mean ± std over seeds, ×100) per (recipe, method) and size,
    each recipe's gains, the recipes at a glance (scratch), then the ablation. `best`: each recipe's
    best (combination, transfer method) as a `transfer_key`. A method is its combination, with its
    transfer method in brackets when not the default: `all (shared-space)`."""
    rows = summary["rows"]
    main = [r for r in rows if r["inputs"] == DEFAULT_INPUT]
    sizes = sorted({r["size"] for r in main}, key=_size_rank)
    lines = ["## Japanese test F1 (Stockmark), mean ± std over seeds, ×100", ""]
    lines.append("| recipe / method | " + " | ".join(f"n={s}" for s in sizes) + " | epochs to best (mean) |")
    lines.append("|---|" + "---|" * (len(sizes) + 1))
    recipes = _recipes(summary)
    for recipe in recipes:
        of_recipe = [r for r in main if r["recipe"] == recipe]
        for key in dict.fromkeys(_row_key(r) for r in of_recipe):
            cells = {r["size"]: r for r in of_recipe if _row_key(r) == key}
            method = _key_label(key)
            label = f"{recipe} / **{method}** (best on validation)" if key == best.get(recipe) else f"{recipe} / {method}"
            values = [_cell(cells[s]) if s in cells else "" for s in sizes]
            epochs = statistics.fmean(c["best_epoch_mean"] for c in cells.values())
            lines.append(f"| {label} | " + " | ".join(values) + f" | {epochs:.1f} |")
    lines += _epochs_table(main, recipes, sizes)
    for recipe in recipes:
        lines += _gain_lines([r for r in main if r["recipe"] == recipe], recipe, best.get(recipe))
    lines += _glance_table(main, recipes)
    lines += _ablation_table(summary, recipes)
    return "\n".join(lines) + "\n"


def _epochs_table(main: list[dict[str, Any]], recipes: list[str], sizes: list[str]) -> list[str]:
    """Epochs to the best validation F1 (mean over seeds) per (recipe, method) and size: how soon each converges."""
    lines = ["", "## Epochs to best validation F1, mean over seeds", ""]
    lines += ["| recipe / method | " + " | ".join(f"n={s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for recipe in recipes:
        of_recipe = [r for r in main if r["recipe"] == recipe]
        for key in dict.fromkeys(_row_key(r) for r in of_recipe):
            cells = {r["size"]: r for r in of_recipe if _row_key(r) == key}
            values = [f"{cells[s]['best_epoch_mean']:.1f}" if s in cells else "" for s in sizes]
            lines.append(f"| {recipe} / {_key_label(key)} | " + " | ".join(values) + " |")
    return lines


def _gain_lines(main: list[dict[str, Any]], recipe: str, best: str | None) -> list[str]:
    """One recipe's gain of its best (combination, transfer method) over scratch, and transfer at N against scratch at 2N.

    Scratch at each size is the best scratch row there: plain, or self-trained where the plan has it.
    """
    if not best:
        return []
    scratch: dict[str, float] = {}
    for r in main:
        if r["method"] == "scratch":
            scratch[r["size"]] = max(scratch.get(r["size"], 0.0), r["test_f1_mean"])
    transfer = [r for r in main if _row_key(r) == best]
    best = _key_label(best)
    gains = [f"n={r['size']}: {100 * (r['test_f1_mean'] - scratch[r['size']]):+.1f}" for r in transfer if r["size"] in scratch]
    baseline = "the best scratch row" if any(r["method"] == "scratch" and r.get("transfer_method", DEFAULT_TRANSFER_METHOD) != DEFAULT_TRANSFER_METHOD for r in main) else "scratch"
    lines = ["", f"Gain of {best} over {baseline} ({recipe}): " + (", ".join(gains) or "no size with both")]
    doubled = {r["size"]: str(2 * int(r["size"])) for r in transfer if r["size"] != "full"}
    half = [
        f"{best} at n={r['size']} ({100 * r['test_f1_mean']:.1f}) "
        f"vs scratch at n={doubled[r['size']]} ({100 * scratch[doubled[r['size']]]:.1f})"
        for r in transfer
        if doubled.get(r["size"]) in scratch
    ]
    if half:
        lines += ["", f"Transfer at N against scratch at 2N ({recipe}): " + "; ".join(half)]
    return lines


def _glance_table(main: list[dict[str, Any]], recipes: list[str]) -> list[str]:
    """Per recipe, scratch test F1 at each size: what the recipe itself is worth, transfer aside."""
    scratch = [r for r in main if r["method"] == "scratch" and r.get("transfer_method", DEFAULT_TRANSFER_METHOD) == DEFAULT_TRANSFER_METHOD]
    if not scratch:
        return []
    sizes = sorted({r["size"] for r in scratch}, key=_size_rank)
    lines = ["", "## Recipes at a glance: scratch test F1 ×100, mean ± std over seeds", ""]
    lines += ["| recipe | " + " | ".join(f"n={s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for recipe in recipes:
        cells = {r["size"]: r for r in scratch if r["recipe"] == recipe}
        if cells:
            lines.append(f"| {recipe} | " + " | ".join(_cell(cells[s]) if s in cells else "" for s in sizes) + " |")
    return lines


def _ablation_table(summary: dict[str, Any], recipes: list[str]) -> list[str]:
    """The romanisation ablation: a row per input variant, a column per (recipe, method) run with other inputs."""
    at_size = [r for r in summary["rows"] if r["size"] == str(summary.get("ablation_size"))]
    # A recipe's ablation methods: those run with other inputs (its transfer was the best when it ran).
    found = {(r["recipe"], r["method"], r["transfer_method"]) for r in at_size if r["inputs"] != DEFAULT_INPUT}
    columns = [
        (recipe, transfer_key(method, transfer_method))
        for recipe, method, transfer_method in sorted(found, key=lambda c: _order((*c, "full", DEFAULT_INPUT)))
    ]
    if not columns:
        return []
    lines = ["", f"## Romanisation ablation at n={summary['ablation_size']} (test F1 ×100, mean ± std over seeds)", ""]
    lines.append("| inputs | " + " | ".join(f"{recipe} / {_key_label(key)}" for recipe, key in columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    for inputs in INPUT_VARIANTS:
        cells = {(r["recipe"], _row_key(r)): r for r in at_size if r["inputs"] == inputs}
        lines.append(f"| {inputs} | " + " | ".join(_cell(cells[c]) if c in cells else "" for c in columns) + " |")
    return lines


def plot_learning_curve(summary: dict[str, Any], best: Mapping[str, str | None], path: Path) -> None:
    """Test F1 against training size: scratch and the best transfer of every recipe, with the seed range shaded.

    Colour says the method (grey scratch, blue transfer), line style the recipe.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"), ((0, (1, 3)), "P")]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for index, recipe in enumerate(_recipes(summary)):
        line, marker = styles[index % len(styles)]
        for key, colour in (("scratch", "tab:grey"), (best.get(recipe), "tab:blue")):
            points = sorted(
                ((int(r["size"]), r)
                for r in summary["rows"]
                if r["recipe"] == recipe and _row_key(r) == key and r["inputs"] == DEFAULT_INPUT and r["size"] != "full"),
                key=lambda point: point[0],
            )  # fmt: skip
            if not key or not points:
                continue
            sizes = [size for size, _ in points]
            axes.plot(
                sizes, [100 * r["test_f1_mean"] for _, r in points], linestyle=line, marker=marker, color=colour,
                label=f"{recipe}: {_key_label(key)}",
            )  # fmt: skip
            low, high = [100 * r["test_f1_min"] for _, r in points], [100 * r["test_f1_max"] for _, r in points]
            axes.fill_between(sizes, low, high, color=colour, alpha=0.12)
    axes.set_xscale("log", base=2)
    ticks = sorted({int(r["size"]) for r in summary["rows"] if r["size"] != "full"})
    axes.set_xticks(ticks, [str(size) for size in ticks])
    axes.minorticks_off()
    axes.set_xlabel("Japanese training sentences")
    axes.set_ylabel("test span F1 (×100)")
    axes.set_title("Stockmark NER: scratch vs transfer per recipe (shaded: range over seeds)", fontsize=10)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def reproduce(
    output_dir: str | Path,
    data_dir: str | Path | None = None,
    quick: bool = False,
    source: str | None = None,
    jobs: int = 1,
    threads: int = 1,
    plan: Plan | None = None,
    report_only: bool = False,
    only: list[str] | None = None,
    code_switch_source: str | None = None,
) -> dict[str, Any]:
    """Run the plan's runs (those not yet done) and write the report.

    With `only`, train just the runs of these names (in this order, each with its recipe and the
    plan's other settings) instead of the plan's. With `report_only`, train nothing. Both then
    report on every finished run in OUTPUT_DIR/runs, whichever invocations made them: a grid
    built up in parts. `source` is the English model of every recipe (its head must match theirs:
    a CRF source for CRF recipes); without it each recipe that has transfer runs to train gets
    its own, pretrained (or kept) in OUTPUT_DIR/english[-RECIPE]. `code_switch_source` likewise
    for the code-switched transfer methods (OUTPUT_DIR/english-code-switch[-RECIPE]); with
    `source` given, runs of those methods need it too (a source given is never pretrained beside).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plan = plan or (QUICK_PLAN if quick else FULL_PLAN)
    selected = [Run.from_name(name) for name in only or []]  # bad names fail before any training
    if selected and report_only:
        raise ValueError("reproduce: train the named runs or report only, not both")
    given = {False: source, True: code_switch_source}
    started = time.perf_counter()
    if report_only:
        results = collect_results(output_dir)
    else:
        # Only sources of a transfer run to train are needed (the best pair, not known yet, is among the grid's).
        zero_shot = [] if selected else zero_shot_runs(plan)
        transfers = [run for run in selected or plan_runs(plan) if run.method != "scratch"] + [z.as_run() for z in zero_shot]
        needed = list(dict.fromkeys((run.recipe, run.transfer.code_switched_source) for run in transfers))
        if source and not code_switch_source and any(code_switched for _, code_switched in needed):
            methods = sorted({run.transfer_method for run in transfers if run.transfer.code_switched_source})
            raise ValueError(
                f"reproduce: transfer methods {', '.join(methods)} need a code-switched English source: pass "
                "--code-switch-source too (or no --source, to pretrain every source)"
            )
        data = local_data(Path(data_dir)) if data_dir else fetch_public_data(output_dir / "data")
        context = Context(data=data, sources={}, output_dir=output_dir, plan=plan, threads=threads)
        context.sources = {key: given[key[1]] for key in needed if given[key[1]]}
        to_train = [key for key in needed if key not in context.sources]
        if to_train:
            listed = ", ".join(recipe + (" (code-switched)" if code_switched else "") for recipe, code_switched in to_train)
            print(f"English pretraining on CoNLL-2003 (recipes {listed}) ...", file=sys.stderr)
            # Scratch runs need no source: with jobs to spare they train beside the pretraining, not after it.
            # (Self-trained scratch waits: it builds on the plain scratch run, which may be training beside.)
            beside = [run for run in selected or plan_runs(plan) if run.method == "scratch" and not run.transfer.self_training] if jobs > len(to_train) else []
            done = _map(_pretrain_source_or_run, [*to_train, *beside], context, jobs)
            context.sources.update(zip(to_train, done[: len(to_train)]))
        if any(run.transfer.word_space for run in transfers):
            build_word_space_map_file(output_dir)
        if selected:
            print(f"{len(selected)} Japanese runs, as named ...", file=sys.stderr)
            run_all(selected, context, jobs)
            results = collect_results(output_dir)
        else:
            results = run_plan(plan, context, jobs)
            if zero_shot:
                print(f"{len(zero_shot)} zero-shot runs (no Japanese labels) ...", file=sys.stderr)
                _map(_zero_shot_one, zero_shot, context, jobs)
    records = [_run_record(r) for r in results]
    recipes = sorted({r.recipe for r in records}, key=lambda recipe: (_recipe_rank(recipe), recipe))
    sources = {recipe: source or str(source_dir(output_dir, recipe)) for recipe in recipes}
    for recipe in recipes:  # the code-switched sources of the recipes that used one
        methods = [TRANSFER_METHODS.get(r.transfer_method, TransferMethod()) for r in records if r.recipe == recipe]
        if any(method.code_switched_source for method in methods):
            sources[source_label(recipe, code_switched=True)] = code_switch_source or str(source_dir(output_dir, recipe, True))
    return write_report(results, plan, sources, output_dir, time.perf_counter() - started, threads, jobs)


def source_label(recipe: str, code_switched: bool = False) -> str:
    """An English source in the report: its recipe, `RECIPE, code-switched` for the code-switched one."""
    return f"{recipe}, code-switched" if code_switched else recipe


def _source_record(path: str) -> dict[str, Any]:
    """An English source's test F1 and seconds per epoch, from its results.json when it is a local
    folder of xlner train (a Hub id has none here: None)."""
    english = Results.load(Path(path) / "results.json") if (Path(path) / "results.json").is_file() else None
    return {
        "path": path,
        "test_f1": english.test.f1 if english and english.test else None,
        "seconds_per_epoch": english.seconds_per_epoch if english else None,
    }


def _early_stopping_notes(results: list[Results]) -> list[str]:
    """Per recipe, whether its runs trained without early stopping (patience None or 0, as recorded)."""
    by_recipe: dict[str, list[Results]] = {}
    for result in results:
        by_recipe.setdefault(_run_record(result).recipe, []).append(result)
    notes = []
    for recipe in sorted(by_recipe, key=lambda recipe: (_recipe_rank(recipe), recipe)):
        fixed = [r for r in by_recipe[recipe] if not r.options.get("patience")]
        if not fixed:
            continue
        epochs = ", ".join(str(e) for e in sorted({r.options.get("epochs") for r in fixed}, key=str))
        share = "every run" if len(fixed) == len(by_recipe[recipe]) else f"{len(fixed)} of {len(by_recipe[recipe])} runs"
        notes.append(
            f"Recipe {recipe}: {share} had no early stopping (patience None) and trained its fixed {epochs} epochs: "
            "unless that is past convergence, a gain there says how much faster transfer learns, not how much better it ends."
        )
    return notes


def write_report(
    results: list[Results],
    plan: Plan,
    sources: Mapping[str, str],
    output_dir: Path,
    wall_seconds: float,
    threads: int,
    jobs: int,
) -> dict[str, Any]:
    """OUTPUT_DIR/results.json (the report), results.md (the tables) and learning_curve.png; returns the report.

    `sources`: each reported recipe's English source (a folder or Hub id), by `source_label`.
    """
    summary = summarize(results)
    best = best_combinations(summary)
    zero_shot = collect_zero_shot(output_dir)  # every finished one, whichever invocation made it
    # The plan's ablation size, else that of the romanisation runs found (a grid reported from several invocations).
    ablated = sorted({record.size for r in results if (record := _run_record(r)).inputs != DEFAULT_INPUT and record.size})
    summary["ablation_size"] = plan.ablation_size or (ablated[0] if ablated else None)
    mismatches = {
        _run_record(r).name: found for r in results if (found := recipe_mismatches(r, _run_record(r).recipe))
    }
    report = {
        "plan": asdict(plan),
        "sources": {recipe: _source_record(path) for recipe, path in sources.items()},
        "best_combinations": best,
        "summary": summary,
        "runs": [
            {
                **asdict(_run_record(r)),
                "test_f1": _test_f1(r),
                "validation_f1": r.validation.f1,
                "best_epoch": r.best_epoch,
                "epochs_trained": r.epochs_trained,
            }
            for r in results
        ],
        # Finished runs whose recorded options are not their recipe's today (kept: never trained twice).
        "recipe_mismatches": mismatches,
        "zero_shot": zero_shot,
        "wall_seconds": wall_seconds,
        "run_seconds_sum": sum(_run_record(r).wall_seconds for r in results),  # one process per run
        "threads_per_job": threads,
        "jobs": jobs,
    }
    (output_dir / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    table = markdown_table(summary, best) + "".join(line + "\n" for line in zero_shot_table(zero_shot))
    notes = _early_stopping_notes(results)
    if mismatches:
        listed = "; ".join(f"{name}: {', '.join(found)}" for name, found in list(mismatches.items())[:10])
        more = f" and {len(mismatches) - 10} more" if len(mismatches) > 10 else ""
        were = "1 run was" if len(mismatches) == 1 else f"{len(mismatches)} runs were"
        their = "its" if len(mismatches) == 1 else "their"
        notes.append(
            f"{were} trained with other options than {their} recipe's today (kept, since a run with a results.json is never trained again; "
            f"move it away to train it again): {listed}{more}."
        )
    table += "".join(f"\n{note}\n" for note in notes)
    source_lines = [
        f"English source ({recipe}): test F1 "
        + (f"{100 * record['test_f1']:.1f}" if record["test_f1"] is not None else "unknown")
        + f" ({record['path']})"
        for recipe, record in report["sources"].items()
    ]
    (output_dir / "results.md").write_text("\n".join(source_lines) + "\n\n" + table, encoding="utf-8")
    plot_learning_curve(summary, best, output_dir / "learning_curve.png")
    print(table)
    return report
