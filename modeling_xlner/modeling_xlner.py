"""PyTorch XLNer: a bi-LSTM tagger over word embeddings and character-bigram representations.

    input_ids        ──► word  (word embeddings                      ─┐
    vector_ids       ──┤        + projected pretrained vectors       │
    pos_ids          ──┘        + part-of-speech embeddings)         ├─► concat ─► context (bi-LSTM) ─► head ─► tags
    char_ids         ──► char  (bigram embeddings → char bi-LSTM     │              (linear, optional CRF)
    surface_char_ids ──┤        + Japanese-character bi-LSTM        │
    shape_ids        ──┘        , word-shape embedding)             ─┘

`word`, `char`, `context` and `head` are the four modules that can be transferred from a model
trained on one language to a model for another (see `TRANSFERABLE_MODULES` and transfer_xlner.py).
"""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, TokenClassifierOutput

from .configuration_xlner import XLNerConfig
from .crf_xlner import XLNerCRF
from .decoding_xlner import bio_transition_scores, decode
from .loading_xlner import check_weights_files, own_weight_copies
from .lstm_xlner import XLNerLSTM, unique_rows
from .transfer_xlner import (
    check_source_weights, check_transfer, copy_modules, read_label_map, read_shape_roles, read_word_space_map,
    read_word_translations, resolve_modules, split_transfer_kwargs,
    transfer_config, transfer_tokenizers,
)  # fmt: skip


class XLNerWordEmbeddings(nn.Module):
    """The **word** module: one trained vector per word id (with word dropout during training), plus,
    when the model has them, the word's fixed pretrained vector through a linear projection and its
    part-of-speech embedding. The three are summed, so the output size is `word_embedding_dim` whatever
    the pretrained vectors' width: `context` and `head` fit models with other vectors, or none.
    """

    def __init__(self, config: XLNerConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.word_vocab_size, config.word_embedding_dim, padding_idx=config.pad_token_id)
        self.vector_projection = self.pos_embeddings = None
        self.register_buffer("vectors", None)
        if config.vector_vocab_size:
            # A buffer, not a parameter: the table holds words the training data never saw, which training
            # would leave behind the words it did see. Row 0 (words without a vector) stays zero.
            self.register_buffer("vectors", torch.zeros(config.vector_vocab_size, config.vector_dim))
            self.vector_projection = nn.Linear(config.vector_dim, config.word_embedding_dim, bias=False)
        if config.pos_vocab_size:
            self.pos_embeddings = nn.Embedding(config.pos_vocab_size, config.word_embedding_dim, padding_idx=0)
        self.word_dropout = config.word_dropout
        self.pad_token_id = config.pad_token_id
        self.unk_token_id = config.unk_token_id
        self._projected_vectors = self._projected_key = None  # inference cache, not state (see `projected_vectors`)

    def projected_vectors(self) -> torch.Tensor:
        """The projection of the whole fixed table, computed once per version of the weights.

        Without gradients every batch would project the same rows again: a table of
        `word_embedding_dim` columns makes the lookup narrower and drops the matmul. In-place updates,
        `load_state_dict` and `.to()` change the key; fused optimizers update without bumping a tensor's
        version, so `train()` (which `Trainer` calls before every step) also drops the cache.
        """
        weight = self.vector_projection.weight
        key = (weight.data_ptr(), weight._version, self.vectors.data_ptr(), self.vectors._version, weight.dtype, weight.device)
        if self._projected_key != key:
            self._projected_vectors, self._projected_key = self.vector_projection(self.vectors), key
        return self._projected_vectors

    def train(self, mode: bool = True) -> "XLNerWordEmbeddings":
        self._projected_vectors = self._projected_key = None
        return super().train(mode)

    def forward(
        self, input_ids: torch.LongTensor, pos_ids: torch.LongTensor | None = None, vector_ids: torch.LongTensor | None = None
    ) -> torch.Tensor:
        if self.training and self.word_dropout > 0:
            # Replacing random words by <unk> trains the unknown-word vector and pushes the
            # model to rely on characters (and pretrained vectors), which also serve unseen words.
            drop = torch.rand(input_ids.shape, device=input_ids.device) < self.word_dropout
            drop &= input_ids != self.pad_token_id
            input_ids = input_ids.masked_fill(drop, self.unk_token_id)
        embeddings = self.embeddings(input_ids)
        for needed, ids, name in ((self.vectors, vector_ids, "vector_ids"), (self.pos_embeddings, pos_ids, "pos_ids")):
            if needed is not None and ids is None:
                raise ValueError(f"This model's word module needs the tokenizer's `{name}`.")
        if self.vectors is not None and torch.is_grad_enabled():
            embeddings = embeddings + self.vector_projection(nn.functional.embedding(vector_ids, self.vectors))
        elif self.vectors is not None:
            embeddings = embeddings + nn.functional.embedding(vector_ids, self.projected_vectors())
        if self.pos_embeddings is not None:
            embeddings = embeddings + self.pos_embeddings(pos_ids)
        return embeddings


class XLNerHead(nn.Linear):
    """The **head**: a score per label for each word (a linear layer) and, with `config.use_crf`, the
    CRF (`crf`: learned label-transition scores) that turns those scores into a sequence model.

    A subclass of `nn.Linear`, so that the linear weights keep their names (`head.weight`) with or without CRF.
    """

    def __init__(self, config: XLNerConfig):
        super().__init__(2 * config.context_hidden_size, config.num_labels)
        self.crf = XLNerCRF(config.id2label) if config.use_crf else None



class XLNerCharEncoder(nn.Module):
    """The **char** module: a bi-LSTM over a word's character bigrams, plus a word-shape embedding.

    The final forward and backward states are concatenated. Bigrams are lowercased by the
    tokenizer so that English bigrams and romaji bigrams share one vocabulary; capitalisation
    comes in through the separate shape embedding instead. With `surface_bigram_vocab_size`, a
    second bi-LSTM reads the bigrams of the word's Japanese characters (`surface_char_ids`), whose
    kanji romaji loses; its states are added to the first's, so the output size stays the same.
    """

    def __init__(self, config: XLNerConfig):
        super().__init__()
        self.bigram_embeddings = nn.Embedding(
            config.bigram_vocab_size, config.bigram_embedding_dim, padding_idx=config.pad_token_id
        )
        self.lstm = XLNerLSTM(config.bigram_embedding_dim, config.char_hidden_size)
        self.surface_bigram_embeddings = self.surface_lstm = None
        if config.surface_bigram_vocab_size:
            self.surface_bigram_embeddings = nn.Embedding(
                config.surface_bigram_vocab_size, config.bigram_embedding_dim, padding_idx=config.pad_token_id
            )
            self.surface_lstm = XLNerLSTM(config.bigram_embedding_dim, config.char_hidden_size)
        self.shape_embeddings = (
            nn.Embedding(config.num_shapes, config.shape_embedding_dim, padding_idx=0)
            if config.shape_embedding_dim > 0
            else None
        )
        self.output_size = 2 * config.char_hidden_size + config.shape_embedding_dim

    def forward(
        self, char_ids: torch.LongTensor, shape_ids: torch.LongTensor | None = None, surface_char_ids: torch.LongTensor | None = None
    ) -> torch.Tensor:
        states = self._encode(char_ids, self.bigram_embeddings, self.lstm)
        if self.surface_lstm is not None:
            if surface_char_ids is None:
                raise ValueError("This model reads Japanese-character bigrams: pass the tokenizer's `surface_char_ids`.")
            states = states + self._encode(surface_char_ids, self.surface_bigram_embeddings, self.surface_lstm)
        if self.shape_embeddings is not None:
            if shape_ids is None:
                raise ValueError("This model uses word shapes: pass the tokenizer's `shape_ids`.")
            states = torch.cat([states, self.shape_embeddings(shape_ids)], dim=-1)
        return states

    @staticmethod
    def _encode(char_ids: torch.LongTensor, embedding: nn.Embedding, lstm: XLNerLSTM) -> torch.Tensor:
        """Final bi-LSTM states `(batch, words, 2 * hidden)` of each word's bigrams (zeros for padding words)."""
        batch_size, num_words, max_bigrams = char_ids.shape
        flat = char_ids.reshape(-1, max_bigrams)
        present = (flat != 0).sum(dim=-1) > 0
        states = flat.new_zeros((flat.shape[0], 2 * lstm.hidden_size), dtype=embedding.weight.dtype)
        if present.any():
            # A word type that occurs several times in the batch is encoded once.
            unique_words, inverse = unique_rows(flat[present])
            lengths = (unique_words != 0).sum(dim=-1)
            _, unique_states = lstm(unique_words, lengths, embedding=embedding, return_outputs=False)
            states = states.index_put((present.nonzero(as_tuple=True)[0],), unique_states[inverse])
        return states.view(batch_size, num_words, -1)


class XLNerContextEncoder(nn.Module):
    """The **context** module: a word-level bi-LSTM over the sentence."""

    def __init__(self, config: XLNerConfig, input_size: int):
        super().__init__()
        self.lstm = XLNerLSTM(
            input_size,
            config.context_hidden_size,
            num_layers=config.context_num_layers,
            dropout=config.dropout if config.context_num_layers > 1 else 0.0,
        )

    def forward(self, word_representations: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # An empty text still has one (masked) position, so clamping keeps packing valid.
        lengths = attention_mask.sum(dim=-1).clamp(min=1)
        return self.lstm(word_representations, lengths)[0]


class XLNerPreTrainedModel(PreTrainedModel):
    config_class = XLNerConfig
    base_model_prefix = "xlner"
    main_input_name = "input_ids"
    _no_split_modules = ["XLNerCharEncoder", "XLNerContextEncoder"]

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path, *model_args, transfer_modules=None, tokenizer=None, label_map=None,
        word_space_map=None, shape_roles=None, word_translations=None, seed: int | None = None, **kwargs,
    ):  # fmt: skip
        r"""
        Load a saved model, or (with `transfer_modules`) build a new one from some of its modules.

        transfer_modules (`str` or `list[str]`, *optional*):
            Modules to copy from the saved model: `"word"`, `"char"`, `"context"`, `"head"`, or `"classifier"`
            (= context + head), as a list or comma-separated. The others are freshly initialised. The new
            model takes the saved configuration, overridden by config keyword arguments (`id2label=...`)
            and by `tokenizer`'s vocabulary sizes; a transferred module whose shapes differ is an error.
        tokenizer (`XLNerTokenizer` or `str`, *optional*):
            The target tokenizer (or its saved folder / Hub id); needed to align the vocabularies of `word`
            and `char` (rows of words / bigrams present in both are copied).
        label_map (`dict[str, str]` or `str`, *optional*):
            Target entity type → source entity type (no B-/I- prefixes), or a JSON file of one, for the
            head's rows; default: same-named types, then the Japanese Wikipedia → CoNLL map.
        word_space_map (`torch.Tensor` or `str`, *optional*):
            With `word`: a map (target vector width × source vector width) from the target's pretrained
            vectors into the source's, or the file `xlner word-space` saved it in; it carries the word
            projection across vector tables of different widths (e.g. Japanese chiVe into English GloVe).
        shape_roles (`bool` or `dict[str, str]`, *optional*):
            With `char`: target word-shape name → source shape name whose (copied) row it starts from;
            `True` for the Japanese scripts (katakana → title-case, hiragana / kanji → lowercase), shapes an
            English source never trained.
        word_translations (`dict[str, list[str]]` or `str`, *optional*):
            With `word`: target word → source words (or a file of `xlner word-space`, whose seed dictionary
            it reads): a target word the source vocabulary lacks starts from its translation's row.
        seed (`int`, *optional*):
            Seed for the freshly initialised parameters (default: the global RNG).

        What was copied is in `config.transferred_from` and `model.transfer_report` (see transfer_xlner.py).
        """
        check_weights_files(pretrained_model_name_or_path)
        if transfer_modules is None:
            if any(value is not None for value in (tokenizer, label_map, word_space_map, shape_roles, word_translations, seed)):
                raise ValueError(
                    "`tokenizer`, `label_map`, `word_space_map`, `shape_roles`, `word_translations` and `seed` only apply "
                    "with `transfer_modules`"
                )
            loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
            own_weight_copies(loaded[0] if isinstance(loaded, tuple) else loaded)  # output_loading_info=True
            return loaded
        modules = resolve_modules(transfer_modules)
        check_transfer(modules, tokenizer, label_map, word_space_map, word_translations)
        hub_kwargs, overrides, load_kwargs = split_transfer_kwargs(kwargs)
        tokenizers = transfer_tokenizers(pretrained_model_name_or_path, tokenizer, modules, hub_kwargs)
        source_config = cls.config_class.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):  # fresh modules drawn from `seed`
            if seed is not None:
                torch.manual_seed(seed)
            model = cls(transfer_config(source_config, tokenizers[1], overrides))
        source, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, output_loading_info=True, **hub_kwargs, **load_kwargs
        )
        check_source_weights(info["missing_keys"], modules, cls.base_model_prefix, pretrained_model_name_or_path)
        model.to(source.dtype)
        report = copy_modules(
            source, model, modules, str(pretrained_model_name_or_path), tokenizers, read_label_map(label_map),
            read_word_space_map(word_space_map), read_shape_roles(shape_roles), read_word_translations(word_translations),
        )  # fmt: skip
        model.transfer_report, model.config.transferred_from = report, report.to_config()
        return model.eval()  # as every loaded model

    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes the auto_map entry of the saved class only: a folder of either class answers
        # every Auto class registered for XLNer models.
        for model_class in (XLNerModel, XLNerForTokenClassification):
            if model_class._auto_class is not None:
                entry = f"{model_class.__module__.rsplit('.', 1)[-1]}.{model_class.__name__}"
                self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), model_class._auto_class: entry}
        # `pipeline("token-classification", model=DIR, trust_remote_code=True)` builds this class. The
        # relative import also makes transformers copy pipeline_xlner.py beside this file as remote code.
        if getattr(self, "head", None) is not None:
            from .pipeline_xlner import XLNerTokenClassificationPipeline

            self.config.custom_pipelines = {
                "token-classification": {
                    "impl": f"pipeline_xlner.{XLNerTokenClassificationPipeline.__name__}",
                    "pt": ["AutoModelForTokenClassification"],
                    "type": "text",
                }
            }
        return super().save_pretrained(save_directory, *args, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs):
        r"""
        Upload the model as `save_pretrained` writes it, with a model card generated by the xlner package.

        The card (README.md) is written by the package's `hub_cards`, which is not remote code: without
        the package installed, transformers' own `push_to_hub` and default card are used. With it, extra
        keyword arguments are accepted: `tokenizer` (uploaded in the same commit), `results` (a
        `Results` or a results.json path), `license`, `base_model`, `dataset`.
        """
        try:  # (imports in a try block are not required of remote code by transformers' import check)
            from hub_cards.push import push_model_to_hub
        except ImportError:
            return super().push_to_hub(repo_id, **kwargs)
        return push_model_to_hub(self, repo_id, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):
            init.uniform_(module.weight, -self.config.initializer_range, self.config.initializer_range)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LSTM):
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                else:
                    # Forget-gate bias 1 in total (b_ih + b_hh; gates are ordered input, forget,
                    # cell, output): a standard trick that keeps gradients flowing early in training.
                    bias = torch.zeros_like(param)
                    bias[module.hidden_size : 2 * module.hidden_size] = 0.5
                    init.copy_(param, bias)
        elif isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, XLNerCRF):  # no preference between labels until trained
            for param in (module.transitions, module.start_transitions, module.end_transitions):
                init.zeros_(param)
            # The BIO constraint is not saved: rebuilt here, or `from_pretrained` leaves it uninitialised.
            transitions, start = bio_transition_scores(self.config.id2label)
            init.copy_(module.transition_constraint, transitions)
            init.copy_(module.start_constraint, start)


class XLNerModel(XLNerPreTrainedModel):
    """The bare encoder: **word** and **char** representations, concatenated, through the **context** bi-LSTM.

    Returns one contextual vector per word (`last_hidden_state`, of size `2 * context_hidden_size`).
    """

    def __init__(self, config: XLNerConfig):
        super().__init__(config)
        self.word = XLNerWordEmbeddings(config)
        self.char = XLNerCharEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.context = XLNerContextEncoder(config, config.word_embedding_dim + self.char.output_size)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.word.embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        char_ids: torch.LongTensor,
        shape_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        pos_ids: torch.LongTensor | None = None,
        vector_ids: torch.LongTensor | None = None,
        surface_char_ids: torch.LongTensor | None = None,
    ) -> BaseModelOutput | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch_size, num_words)`):
            One word-vocabulary id per word.
        char_ids (`torch.LongTensor` of shape `(batch_size, num_words, max_bigrams)`):
            For each word, the ids of its character bigrams (word-boundary markers included), 0-padded.
        shape_ids (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*):
            Word-shape class of each word (capitalisation, digits, script); needed when the model uses shapes.
        attention_mask (`torch.Tensor` of shape `(batch_size, num_words)`, *optional*):
            1 for real words, 0 for padding. Defaults to all ones.
        pos_ids (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*):
            Part-of-speech id of each word; needed when the model has a part-of-speech embedding.
        vector_ids (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*):
            Row of each word's pretrained vector (0: none); needed when the model has pretrained vectors.
        surface_char_ids (`torch.LongTensor` of shape `(batch_size, num_words, max_bigrams)`, *optional*):
            Bigram ids of each word's Japanese characters; needed when the model has that second char channel.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)

        words, characters = self.word(input_ids, pos_ids, vector_ids), self.char(char_ids, shape_ids, surface_char_ids)
        if self.training and self.config.word_module_dropout > 0:
            # Whole sentences without their word representations: the characters must carry them alone.
            keep = torch.rand(words.shape[0], 1, 1, device=words.device) >= self.config.word_module_dropout
            words = words * keep.to(words.dtype)
        word_representations = torch.cat([words, characters], dim=-1)
        contextual = self.context(self.dropout(word_representations), attention_mask)

        hidden_states = (word_representations, contextual) if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (contextual, hidden_states) if v is not None)
        return BaseModelOutput(last_hidden_state=contextual, hidden_states=hidden_states)


class XLNerForTokenClassification(XLNerPreTrainedModel):
    """XLNer with the **head**: a linear layer that scores every label (BIO) for each word, optionally a CRF.

    `decode` turns the scores into tags: with a CRF, its best path (Viterbi over emission and learned
    transition scores, under the BIO constraint); otherwise by default the best sequence under the BIO
    constraint (no `I-X` without a `B-X` or `I-X` before it), since the head scores each word on its own.
    """

    def __init__(self, config: XLNerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.xlner = XLNerModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.head = XLNerHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        char_ids: torch.LongTensor,
        shape_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        pos_ids: torch.LongTensor | None = None,
        vector_ids: torch.LongTensor | None = None,
        surface_char_ids: torch.LongTensor | None = None,
    ) -> TokenClassifierOutput | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*):
            Label id of each word; -100 (padding) is ignored by the loss (with a CRF: a word of unknown label).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.xlner(
            input_ids,
            char_ids,
            shape_ids=shape_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            pos_ids=pos_ids,
            vector_ids=vector_ids,
            surface_char_ids=surface_char_ids,
        )
        logits = self.head(self.dropout(outputs.last_hidden_state))

        loss = None
        if labels is not None and self.head.crf is not None:
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
            loss = self.head.crf(logits, labels, mask)
        elif labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1), ignore_index=-100)
            if not (labels != -100).any():  # only blank texts: the mean over no word is NaN; 0 as the CRF gives
                loss = logits.sum() * 0.0

        if not return_dict:
            output = (logits,) + ((outputs.hidden_states,) if outputs.hidden_states is not None else ())
            return ((loss,) + output) if loss is not None else output
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    @torch.no_grad()
    def decode(self, logits: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[list[int]]:
        """Label ids per sentence from `logits` `(batch, words, labels)`, each list cut to its sentence's length.

        With a CRF head, the CRF's best path. Otherwise, with `config.constrained_decoding` (the default), the
        best path under the BIO constraint (Viterbi); else each word's argmax. See decoding_xlner.py.
        """
        if self.head.crf is not None:
            if attention_mask is None:
                attention_mask = torch.ones(logits.shape[:2], dtype=torch.long, device=logits.device)
            return self.head.crf.decode(logits, attention_mask)
        return decode(logits, attention_mask, self.config.id2label, self.config.constrained_decoding)


__all__ = ["XLNerPreTrainedModel", "XLNerModel", "XLNerForTokenClassification"]
