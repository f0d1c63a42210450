/* model_vocab.c - the tokenizer of a loaded model (see r1.h). */
#include "model/model.h"
#include "text/tokenizer.h"

int r1_model_load_tokenizer(const r1_model *model, r1_tokenizer **out, r1_error *err) {
    return r1_tokenizer_load(model->file, out, err);
}
