"""Publishing XLNer models on the Hugging Face Hub: the model card and `xlner push`.

- `model_card.py` + `model_card.jinja`: `build_model_card(model_dir)` / `write_model_card(model_dir)`,
  the README.md of a saved model, filled from its config.json, tokenizer_config.json and results.json
  (read as `modeling_xlner.training.results.Results`).
- `push.py`: one upload path, a `save_pretrained` folder plus the card through `HfApi.upload_folder`:
  `xlner push` (`add_push_parser`, `push_command`), its dry-run export, and `push_model_to_hub`,
  which `XLNerPreTrainedModel.push_to_hub` uses when this package is installed.

None of this is remote code: it is never copied into a model folder.
"""

from .model_card import build_model_card, write_model_card

__all__ = ["build_model_card", "write_model_card"]
