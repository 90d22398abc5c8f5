#!/bin/sh
# As tensorflow/serving's image: the ports, the model under $MODEL_BASE_PATH/$MODEL_NAME, then any
# flags given to `docker run` (a --model_config_file among them replaces the one model).
set -e
case " $* " in
  *" --model_config_file="*) exec python -m serving --port=8500 --rest_api_port=8501 "$@" ;;
esac
exec python -m serving --port=8500 --rest_api_port=8501 \
  --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
