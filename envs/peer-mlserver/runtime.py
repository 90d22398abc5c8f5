"""The SavedModel as an MLServer runtime: `mlserver start DIR`, DIR's model-settings.json naming
`runtime.SavedModel` (bench-peers writes it, with adaptive batching: max_batch_size and
max_batch_time). MLServer merges concurrent V2 requests along dimension 0 and splits the answer.
"""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

from bench.peer_model import PeerModel


class SavedModel(MLModel):
    async def load(self) -> bool:
        self.model = PeerModel(self.settings.parameters.uri)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        batch = NumpyCodec.decode_input(payload.inputs[0])
        output = NumpyCodec.encode_output(self.model.output, self.model(batch))
        return InferenceResponse(model_name=self.name, outputs=[output])
