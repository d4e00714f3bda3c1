"""For the pretraining tests: options as a task's model config holds them, a tiny model around an encoder."""
import keras

from common.layers.recurrent import RecurrentBlock, RNNConfig


class Options:
    pretrained_encoder_backward = None
    fine_tune, lr_factor, warmup_epochs, pretrained_as = "gradual", 2.6, 1.0, "init"


class FeatureOptions(Options):
    fine_tune, lr_factor, warmup_epochs, pretrained_as = "all", 1.0, 0.0, "features"


def encoder_layers(rnn: RNNConfig, input_dim=6):
    embedding = keras.layers.Embedding(4, 6, name="embedding")
    block = RecurrentBlock(name="recurrent", **rnn.block_kwargs())
    x = keras.Input((None,), dtype="int32")
    h = block(keras.layers.Concatenate()([embedding(x), keras.layers.Dense(input_dim - 6)(embedding(x))])
              if input_dim > 6 else embedding(x))
    return keras.Model(x, keras.layers.Dense(2)(h)), embedding, block
