"""The classifier: raw strings in, class probabilities out.

``TextVectorization`` sits inside the model (so the export takes raw strings)
-> ``mask_zero`` embedding (random, pretrained GloVe/word2vec, or with the recurrent
block from language models: `common.pretrained`; or beside it the frozen language models'
states) -> the shared
recurrent block -> last / max / mean / max_mean / attention pooling -> dropout -> logits; with
``model.ngrams``, blended with an n-gram path's (NBSVM, `tasks.sentiment.ngrams`) -> softmax.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from common.data.batching import by_length
from common.layers.blend import Blend
from common.layers.clip_sequence import ClipSequence
from common.layers.naive_bayes_linear import NaiveBayesLinear
from common.layers.pooling import pooling_layer
from common.layers.recurrent import recurrent_block
from common.pretrained.transfer import assign_encoder, language_model_features
from tasks.sentiment.standardize import standardizer
from tasks.sentiment.dataset import SentimentPrepared
from tasks.sentiment.ngrams import char_ngram_layer, ngram_layer


def build_classifier(config, prepared: SentimentPrepared) -> keras.Model:
    m = config.model
    vocabulary = prepared.state["vocabulary"]
    n_classes = len(prepared.state["labels"])
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = keras.layers.TextVectorization(standardize=standardizer(m.standardize), vocabulary=vocabulary,
                                         name="vectorize")(text)
    ids = ClipSequence(m.max_length, name="clip")(ids)
    embedding = keras.layers.Embedding(len(vocabulary), m.embedding_dim, mask_zero=True,
                                       trainable=m.trainable_embeddings, name="embedding")
    x = embedding(ids)
    if prepared.embedding_matrix is not None:
        # assigned, not a Constant initializer: that would copy the matrix into model.keras's config
        embedding.embeddings.assign(prepared.embedding_matrix)
    features = prepared.encoder is not None and m.pretrained_as == "features"
    if features:
        x = keras.layers.Concatenate(name="with_lm_features")(
            [x, language_model_features(ids, prepared.encoder, m.rnn.implementation)])
    if m.embedding_dropout:
        x = keras.layers.Dropout(m.embedding_dropout, name="embedding_dropout")(x)
    if m.pooling == "last":
        x = recurrent_block(m.rnn, return_sequences=False)(x)
    else:
        x = recurrent_block(m.rnn, return_sequences=True)(x)
        x = pooling_layer(m.pooling, m.attention_units)(x)
    x = keras.layers.Dropout(m.dropout, name="dropout")(x)
    if m.hidden_units:
        x = keras.layers.Dense(m.hidden_units, activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(m.dropout, name="hidden_dropout")(x)
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    if m.ngrams:
        # NBSVM fitted beforehand and frozen; blended with the recurrent path's logits by weights fitted on
        # the validation split after training ([1, 0] until then: the recurrent path trains alone).
        wide = NaiveBayesLinear(n_classes, trainable=False, name="ngram_logits")
        logits = Blend([1.0, 0.0], name="blend")([logits, wide(ngram_path_input(m, prepared, text))])
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    model = keras.Model(text, probabilities, name="sentiment")
    if prepared.encoder is not None and not features:
        assign_encoder(embedding, model.get_layer("recurrent"), prepared.encoder)
    if m.ngrams:
        for weight, value in zip((wide.ratios, wide.kernel, wide.bias), prepared.ngrams.weights()):
            weight.assign(value)
    return model


def ngram_path_input(model_config, prepared: SentimentPrepared, text):
    """The whole text's n-gram indicators (not cut to max_length: a linear model reads any length); with
    model.char_ngrams the character n-grams' indicators follow the word n-grams', as `fit_ngrams` lays
    out the weights."""
    if prepared.ngrams is None:
        raise ValueError("model.ngrams needs the n-gram path fitted on the training split (prepared.ngrams)")
    x = ngram_layer(model_config, prepared.ngrams.vocabulary, name="ngrams")(text)
    if not model_config.char_ngrams:
        return x
    chars = char_ngram_layer(model_config, prepared.ngrams.char_vocabulary, name="char_ngrams")(text)
    return keras.layers.Concatenate(name="ngram_features")([x, chars])


def predict_probabilities(model, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Class probabilities ``[len(texts), classes]`` in input order; batches are grouped by length so
    each is padded only to its own longest text. The model runs as one traced function: called eagerly,
    batch by batch, it took ten times as long on IMDB reviews (71 s against 7 s for 1,500 of them)."""
    probabilities = tf.function(lambda text: model(text, training=False),
                                input_signature=[tf.TensorSpec([None], tf.string)])

    def run(chunk):
        return keras.ops.convert_to_numpy(probabilities(tf.constant(chunk, dtype=tf.string)))

    rows = by_length(texts, lambda text: len(text.split()), batch_size, run)
    return np.array(rows, dtype="float32").reshape(len(texts), model.output_shape[-1])
