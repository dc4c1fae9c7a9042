"""PyTorch XLNer: a bi-LSTM tagger over word embeddings and character-bigram representations.

    input_ids  ──► word    (word embeddings)                    ─┐
    char_ids   ──► char    (bigram embeddings → char bi-LSTM)    ├─► concat ─► context (bi-LSTM) ─► head ─► tags
    shape_ids  ──┘         (+ word-shape embedding)             ─┘

`word`, `char`, `context` and `head` are the four modules that can be transferred from a model
trained on one language to a model for another (see `TRANSFERABLE_MODULES`).
"""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, TokenClassifierOutput

from .configuration_xlner import XLNerConfig
from .transfer_xlner import transfer_pretrained


class XLNerWordEmbeddings(nn.Module):
    """The **word** module: one vector per word id, with word dropout during training."""

    def __init__(self, config: XLNerConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.word_vocab_size, config.word_embedding_dim, padding_idx=config.pad_token_id)
        self.word_dropout = config.word_dropout
        self.pad_token_id = config.pad_token_id
        self.unk_token_id = config.unk_token_id

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        if self.training and self.word_dropout > 0:
            # Replacing random words by <unk> trains the unknown-word vector and pushes the
            # model to rely on characters, which is what transfers across languages.
            drop = torch.rand(input_ids.shape, device=input_ids.device) < self.word_dropout
            drop &= input_ids != self.pad_token_id
            input_ids = input_ids.masked_fill(drop, self.unk_token_id)
        return self.embeddings(input_ids)


def _unique_rows(rows: torch.LongTensor) -> tuple[torch.LongTensor, torch.LongTensor]:
    """`torch.unique(rows, dim=0, return_inverse=True)` for non-negative ids, without its row-by-row compares.

    Same result (unique rows in lexicographic order, and the inverse), up to trailing all-zero columns,
    which are dropped (they are padding, so the packed LSTM input is unchanged): a radix sort whose
    keys pack as many columns into one int64 as fit, a few 1-D stable sorts instead of one slow
    sort of rows. About 5 times faster for a batch of 64 sentences.
    """
    width = int((rows != 0).sum(dim=0).nonzero().max()) + 1 if rows.numel() and bool(rows.any()) else 1
    rows = rows[:, :width]
    bits = max(int(rows.max()).bit_length(), 1)
    per_key = max(1, 63 // bits)
    order = torch.arange(rows.shape[0], device=rows.device)
    for end in range(width, 0, -per_key):  # least significant columns first
        key = torch.zeros_like(order)
        for column in range(max(0, end - per_key), end):
            key = (key << bits) | rows[:, column]
        order = order[torch.sort(key[order], stable=True).indices]
    ordered = rows[order]
    starts = torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(dim=1)
    inverse = torch.empty_like(order)
    inverse[order] = starts.cumsum(0) - 1
    return ordered[starts], inverse


# ---------------------------------------------------------------------------------------------------
# Inference-time bi-LSTM. `nn.LSTM` on a PackedSequence runs each direction's time steps with many small
# ops (the input product recomputed every step, three strided sigmoids), which made the character
# bi-LSTM over ~700 short words per batch the slowest part of prediction. Without autograd the same
# function is computed here in fewer, larger ops: every input product at once (a table lookup for
# bigrams), both directions in one batched matmul per time step, and tanh(x) = 2 * sigmoid(2x) - 1 so
# that one sigmoid covers all four gates (torch's CPU sigmoid is about 10 times faster than its tanh,
# which took a third of the forward). Equal to `nn.LSTM` up to float rounding (tested).


class _Packing:
    """Where each (row, time step) of a batch of sequences goes when rows are sorted by length (longest first).

    Packed position `k` holds, as in `PackedSequence.data`, time step after time step, the rows still
    running; the backward direction reads each row from its own end, so that both directions run over
    the same packed positions. Lengths must be at least 1.
    """

    def __init__(self, lengths: torch.LongTensor, width: int):
        sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
        steps = torch.arange(width, device=lengths.device)
        active = steps[:, None] < sorted_lengths[None, :]
        sizes = active.sum(dim=1)
        self.batch_sizes = [size for size in sizes.tolist() if size > 0]
        time, rank = active.nonzero(as_tuple=True)
        row = order[rank]
        # Flat index, into a (rows x width) grid, of the input each direction reads at each packed position.
        self.grid_index = torch.stack([row * width + time, row * width + sorted_lengths[rank] - 1 - time])
        self.num_positions = len(time)
        # Packed position of each row's last step: where both directions' final states are.
        self.last = torch.empty_like(order)
        first_of_step = torch.cumsum(sizes, 0) - sizes
        self.last[order] = first_of_step[sorted_lengths - 1] + torch.arange(len(order), device=lengths.device)

    def gather(self, grid: torch.Tensor) -> torch.Tensor:
        """`(2, positions, features)`: what each direction reads, from a padded `(rows, width, features)` batch."""
        return grid.flatten(0, 1).index_select(0, self.grid_index.flatten()).view(2, self.num_positions, -1)

    def scatter(self, packed: torch.Tensor, rows: int, width: int) -> torch.Tensor:
        """The padded `(rows, width, 2 * H)` outputs (zeros at padding) of both directions' packed `(2, positions, H)`."""
        hidden_size = packed.shape[-1]
        output = packed.new_zeros(rows * width, 2, hidden_size)
        for direction in range(2):
            output[:, direction].index_copy_(0, self.grid_index[direction], packed[direction])
        return output.view(rows, width, 2 * hidden_size)


def _gate_weights(lstm: nn.LSTM, layer: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input weights `(2, 4H, I)`, recurrent weights `(2, H, 4H)` and biases `(2, 4H)` of both directions,
    gates reordered (input, forget, output, cell) and the cell gate's rows doubled (see above)."""

    def reorder(weight):
        input_gate, forget_gate, cell_gate, output_gate = weight.chunk(4, dim=0)
        return torch.cat([input_gate, forget_gate, output_gate, 2 * cell_gate])

    directions = [f"_l{layer}", f"_l{layer}_reverse"]
    weight_ih = torch.stack([reorder(getattr(lstm, "weight_ih" + d)) for d in directions])
    weight_hh = torch.stack([reorder(getattr(lstm, "weight_hh" + d)).T for d in directions])
    bias = torch.stack([reorder(getattr(lstm, "bias_ih" + d) + getattr(lstm, "bias_hh" + d)) for d in directions])
    return weight_ih, weight_hh, bias


def _inference_lstm_applies(inputs: torch.Tensor) -> bool:
    """Whether the bi-LSTMs take the code path above: no autograd, on CPU (on GPUs cuDNN's LSTM is the fast one)."""
    return not torch.is_grad_enabled() and inputs.device.type == "cpu"


def _run_bidirectional(gate_inputs: torch.Tensor, weight_hh: torch.Tensor, packing: _Packing) -> torch.Tensor:
    """Hidden states `(2, positions, H)` of both directions from their input products `(2, positions, 4H)` (consumed)."""
    hidden_size = weight_hh.shape[1]
    outputs = gate_inputs.new_empty(*gate_inputs.shape[:2], hidden_size)
    cell = gate_inputs.new_zeros(2, packing.batch_sizes[0] if packing.batch_sizes else 0, hidden_size)
    previous, start = None, 0
    for size in packing.batch_sizes:  # rows are sorted by length, so the active ones are the first `size`
        gates = gate_inputs[:, start : start + size]
        if previous is not None:
            gates.baddbmm_(previous[:, :size], weight_hh)
        gates.sigmoid_()
        input_gate, forget_gate, output_gate, cell_gate = gates.split(hidden_size, dim=-1)
        cell_gate.mul_(2).sub_(1)
        step_cell = cell[:, :size].mul_(forget_gate).addcmul_(input_gate, cell_gate)
        hidden = torch.mul(step_cell, 2, out=outputs[:, start : start + size]).sigmoid_().mul_(2).sub_(1)
        previous = hidden.mul_(output_gate)
        start += size
    return outputs


class XLNerCharEncoder(nn.Module):
    """The **char** module: a bi-LSTM over a word's character bigrams, plus a word-shape embedding.

    The final forward and backward states are concatenated. Bigrams are lowercased by the
    tokenizer so that English bigrams and romaji bigrams share one vocabulary; capitalisation
    comes in through the separate shape embedding instead.
    """

    def __init__(self, config: XLNerConfig):
        super().__init__()
        self.bigram_embeddings = nn.Embedding(
            config.bigram_vocab_size, config.bigram_embedding_dim, padding_idx=config.pad_token_id
        )
        self.lstm = nn.LSTM(config.bigram_embedding_dim, config.char_hidden_size, batch_first=True, bidirectional=True)
        self.shape_embeddings = (
            nn.Embedding(config.num_shapes, config.shape_embedding_dim, padding_idx=0)
            if config.shape_embedding_dim > 0
            else None
        )
        self.output_size = 2 * config.char_hidden_size + config.shape_embedding_dim

    def forward(self, char_ids: torch.LongTensor, shape_ids: torch.LongTensor | None = None) -> torch.Tensor:
        batch_size, num_words, max_bigrams = char_ids.shape
        flat = char_ids.reshape(-1, max_bigrams)
        lengths = (flat != 0).sum(dim=-1)
        present = lengths > 0
        states = flat.new_zeros((flat.shape[0], 2 * self.lstm.hidden_size), dtype=self.bigram_embeddings.weight.dtype)
        if present.any():
            # A word type that occurs several times in the batch is encoded once.
            unique_words, inverse = _unique_rows(flat[present])
            unique_lengths = (unique_words != 0).sum(dim=-1)
            if _inference_lstm_applies(unique_words):
                unique_states = self._final_states_no_grad(unique_words, unique_lengths)
            else:
                packed = pack_padded_sequence(
                    self.bigram_embeddings(unique_words), unique_lengths.cpu(), batch_first=True, enforce_sorted=False
                )
                _, (final_hidden, _) = self.lstm(packed)
                unique_states = torch.cat([final_hidden[0], final_hidden[1]], dim=-1)
            states = states.index_put((present.nonzero(as_tuple=True)[0],), unique_states[inverse])
        states = states.view(batch_size, num_words, -1)
        if self.shape_embeddings is not None:
            if shape_ids is None:
                raise ValueError("This model uses word shapes: pass the tokenizer's `shape_ids`.")
            states = torch.cat([states, self.shape_embeddings(shape_ids)], dim=-1)
        return states

    def _final_states_no_grad(self, bigram_ids: torch.LongTensor, lengths: torch.LongTensor) -> torch.Tensor:
        """`self.lstm`'s final states `(words, 2H)` (forward ⊕ backward), as with packing, in fewer ops."""
        packing = _Packing(lengths, bigram_ids.shape[1])
        weight_ih, weight_hh, bias = _gate_weights(self.lstm)
        # The input product of each bigram in the batch, computed once and looked up per position.
        used, position_to_used = torch.unique(packing.gather(bigram_ids[..., None])[..., 0], return_inverse=True)
        table = torch.baddbmm(bias[:, None], self.bigram_embeddings(used).expand(2, -1, -1), weight_ih.transpose(1, 2))
        position_to_used[1] += len(used)  # rows of the backward direction's table in the flattened view
        gate_inputs = table.flatten(0, 1).index_select(0, position_to_used.flatten()).view(2, packing.num_positions, -1)
        outputs = _run_bidirectional(gate_inputs, weight_hh, packing)
        return torch.cat([outputs[0, packing.last], outputs[1, packing.last]], dim=-1)


class XLNerContextEncoder(nn.Module):
    """The **context** module: a word-level bi-LSTM over the sentence."""

    def __init__(self, config: XLNerConfig, input_size: int):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size,
            config.context_hidden_size,
            num_layers=config.context_num_layers,
            dropout=config.dropout if config.context_num_layers > 1 else 0.0,
            batch_first=True,
            bidirectional=True,
        )

    def forward(self, word_representations: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        num_words = word_representations.shape[1]
        # An empty text still has one (masked) position, so clamping keeps packing valid.
        lengths = attention_mask.sum(dim=-1).clamp(min=1)
        if _inference_lstm_applies(word_representations):
            return self._forward_no_grad(word_representations, lengths)
        packed = pack_padded_sequence(word_representations, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=num_words)
        return output

    def _forward_no_grad(self, word_representations: torch.Tensor, lengths: torch.LongTensor) -> torch.Tensor:
        """The same outputs as with packing (zeros at padding), in fewer ops; layer by layer."""
        rows, width = word_representations.shape[:2]
        packing = _Packing(lengths, width)
        output = word_representations
        for layer in range(self.lstm.num_layers):
            weight_ih, weight_hh, bias = _gate_weights(self.lstm, layer)
            gate_inputs = torch.baddbmm(bias[:, None], packing.gather(output), weight_ih.transpose(1, 2))
            output = packing.scatter(_run_bidirectional(gate_inputs, weight_hh, packing), rows, width)
        return output


def _check_weights_files(path) -> None:
    """Raise an error naming the file if a local safetensors file is corrupted or truncated.

    safetensors' own error ("Error while deserializing header: ...") does not say which file; its
    header and total size are checked here without reading the tensors.
    """
    import os

    from safetensors import safe_open

    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        return
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            file = os.path.join(path, name)
            try:
                with safe_open(file, framework="pt"):
                    pass
            except Exception as error:  # SafetensorError, or OSError for an unreadable file
                raise OSError(f"{file}: corrupted or not a safetensors weights file ({error})") from error


class XLNerPreTrainedModel(PreTrainedModel):
    config_class = XLNerConfig
    base_model_prefix = "xlner"
    main_input_name = "input_ids"
    _no_split_modules = ["XLNerCharEncoder", "XLNerContextEncoder"]

    @classmethod
    def from_pretrained(
        cls, *args, transfer_modules=None, tokenizer=None, label_map=None, seed: int | None = None, **kwargs
    ):
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
        seed (`int`, *optional*):
            Seed for the freshly initialised parameters (default: the global RNG).

        What was copied is in `config.transferred_from` and `model.transfer_report`.
        """
        _check_weights_files(args[0] if args else kwargs.get("pretrained_model_name_or_path"))
        if transfer_modules is not None:
            loaded = transfer_pretrained(
                cls, super().from_pretrained, *args, transfer_modules=transfer_modules, tokenizer=tokenizer,
                label_map=label_map, seed=seed, **kwargs,
            )  # fmt: skip
        elif tokenizer is not None or label_map is not None or seed is not None:
            raise ValueError("`tokenizer`, `label_map` and `seed` only apply with `transfer_modules`")
        else:
            loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        # Loaded weights can be views into the memory-mapped safetensors file at any alignment;
        # MKL then takes other code paths (slower, and logits differ in the last bits from the
        # model that was saved). Own, aligned copies make a save/load round trip exact.
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.data = parameter.data.clone()
        return loaded

    def save_pretrained(self, save_directory, *args, **kwargs):
        # Whichever head is saved, the checkpoint answers every Auto class; the tokenizer's
        # code is saved beside it by `XLNerTokenizer.save_pretrained`.
        self.config.auto_map = {
            **(getattr(self.config, "auto_map", None) or {}),
            "AutoConfig": "configuration_xlner.XLNerConfig",
            "AutoModel": "modeling_xlner.XLNerModel",
            "AutoModelForTokenClassification": "modeling_xlner.XLNerForTokenClassification",
            "AutoTokenizer": ["tokenization_xlner.XLNerTokenizer", None],
        }
        if getattr(self, "head", None) is not None:
            # `pipeline("token-classification", model=DIR, trust_remote_code=True)` builds this class. The
            # relative import also makes transformers copy pipeline_xlner.py beside this file as remote code.
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
        Upload the model as transformers does (code files included), with a model card generated from it.

        The card (README.md: metadata, evaluation results, training recipe, usage) is written by the
        xlner package's `hub_cards`, which is not remote code: this file only tries to import it, here.
        Without xlner installed, transformers' default card is used. With xlner, extra keyword
        arguments are accepted: `tokenizer` (uploaded in the same commit), `results` (dict or
        results.json path; default: results.json of the folder the model was loaded from), `license`,
        `base_model`, `dataset`.
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
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)

        word_representations = torch.cat([self.word(input_ids), self.char(char_ids, shape_ids)], dim=-1)
        contextual = self.context(self.dropout(word_representations), attention_mask)

        hidden_states = (word_representations, contextual) if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (contextual, hidden_states) if v is not None)
        return BaseModelOutput(last_hidden_state=contextual, hidden_states=hidden_states)


def bio_transition_scores(id2label: dict[int, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Additive scores (0 or -inf) that forbid `I-X` except after `B-X` or `I-X`, and at the start."""
    labels = [id2label[index] for index in range(len(id2label))]
    inside = torch.tensor([label.startswith("I-") for label in labels])
    same_type = torch.tensor([[a[2:] == b[2:] and a != "O" for b in labels] for a in labels])
    transitions = torch.where(inside[None, :] & ~same_type, float("-inf"), 0.0)
    start = torch.where(inside, float("-inf"), 0.0)
    return transitions, start


def viterbi_decode(
    log_probs: torch.Tensor, attention_mask: torch.Tensor, transitions: torch.Tensor, start: torch.Tensor
) -> list[list[int]]:
    """Best label path per sentence (batch-vectorised Viterbi); one list of label ids per row, cut to its length."""
    batch_size, num_words, _ = log_probs.shape
    lengths = attention_mask.sum(dim=-1).tolist()
    score = log_probs[:, 0] + start
    backpointers = []
    for position in range(1, num_words):
        best, pointer = (score[:, :, None] + transitions).max(dim=1)
        active = attention_mask[:, position, None].bool()
        score = torch.where(active, best + log_probs[:, position], score)
        backpointers.append(pointer)
    # Backtrack on Python lists: indexing a tensor once per word cost more than the forward pass above.
    pointers = torch.stack(backpointers, dim=1).tolist() if backpointers else [[] for _ in range(batch_size)]
    last = score.argmax(dim=-1).tolist()
    paths = []
    for row in range(batch_size):
        length = int(lengths[row])
        if length == 0:
            paths.append([])
            continue
        path = [last[row]]
        row_pointers = pointers[row]
        for position in range(length - 2, -1, -1):
            path.append(row_pointers[position][path[-1]])
        paths.append(path[::-1])
    return paths


class XLNerForTokenClassification(XLNerPreTrainedModel):
    """XLNer with the **head**: a linear layer that scores every label (BIO) for each word.

    `decode` turns the scores into tags: by default the best sequence under the BIO constraint
    (no `I-X` without a `B-X` or `I-X` before it), since the head scores each word on its own.
    """

    def __init__(self, config: XLNerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.xlner = XLNerModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.context_hidden_size, config.num_labels)
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
    ) -> TokenClassifierOutput | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, num_words)`, *optional*):
            Label id of each word; -100 (padding) is ignored by the loss.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.xlner(
            input_ids,
            char_ids,
            shape_ids=shape_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.head(self.dropout(outputs.last_hidden_state))

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1), ignore_index=-100)

        if not return_dict:
            output = (logits,) + ((outputs.hidden_states,) if outputs.hidden_states is not None else ())
            return ((loss,) + output) if loss is not None else output
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    @torch.no_grad()
    def decode(self, logits: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[list[int]]:
        """Label ids per sentence from `logits` `(batch, words, labels)`, each list cut to its sentence's length.

        With `config.constrained_decoding` (the default), the best path under the BIO constraint over
        log-softmax scores (each word's argmax where that path is valid, else Viterbi's); otherwise the
        argmax of each word.
        """
        if attention_mask is None:
            attention_mask = torch.ones(logits.shape[:2], dtype=torch.long, device=logits.device)
        if not self.config.constrained_decoding:
            lengths = attention_mask.sum(dim=-1).tolist()
            return [row[: int(n)] for row, n in zip(logits.argmax(dim=-1).tolist(), lengths)]
        transitions, start = bio_transition_scores(self.config.id2label)
        transitions, start = transitions.to(logits.device), start.to(logits.device)
        # Where each word's best label already forms a valid sequence, it is the best valid one:
        # Viterbi runs only on the other sentences (few, once the model is trained).
        best = logits.argmax(dim=-1)
        mask = attention_mask.bool()
        invalid = (start[best[:, 0]] < 0) & mask[:, 0]
        invalid |= ((transitions[best[:, :-1], best[:, 1:]] < 0) & mask[:, 1:]).any(dim=1)
        lengths = attention_mask.sum(dim=-1).tolist()
        paths = [row[: int(n)] for row, n in zip(best.tolist(), lengths)]
        if invalid.any():
            rows = invalid.nonzero(as_tuple=True)[0]
            log_probs = logits[rows].float().log_softmax(dim=-1)
            for row, path in zip(rows.tolist(), viterbi_decode(log_probs, attention_mask[rows], transitions, start)):
                paths[row] = path
        return paths


__all__ = [
    "XLNerPreTrainedModel",
    "XLNerModel",
    "XLNerForTokenClassification",
    "bio_transition_scores",
    "viterbi_decode",
]
