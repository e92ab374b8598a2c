# One Lambda function as Lambda runs it: AWS's Python 3.12 base image (which carries the Runtime
# Interface Emulator on port 8080), the shared layer where Lambda mounts layers (/opt/python), and
# only this function's own folder as the task root. Build with --build-arg FUNCTION=<folder>.
FROM public.ecr.aws/lambda/python:3.12

# The layer, as `sam build` makes it: the run-time requirements next to the imageapi package.
COPY layers/common/requirements.txt /tmp/layer-requirements.txt
RUN pip install --no-cache-dir --target /opt/python -r /tmp/layer-requirements.txt \
    && rm /tmp/layer-requirements.txt
COPY layers/common/imageapi /opt/python/imageapi

ARG FUNCTION
# Without it, COPY would take every function's folder.
RUN test -n "${FUNCTION}" || { echo "build with --build-arg FUNCTION=<folder under functions/>"; exit 1; }
COPY functions/${FUNCTION}/ ${LAMBDA_TASK_ROOT}/
# A function's own requirements (the thumbnail function's Pillow) go beside its code, as sam build
# puts them; the others have none.
RUN if [ -f "${LAMBDA_TASK_ROOT}/requirements.txt" ]; then \
        pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" -r "${LAMBDA_TASK_ROOT}/requirements.txt"; \
    fi

# Starts the Runtime Interface Emulator with its own log level (RIE_LOG_LEVEL), not the app's.
COPY --chmod=0755 docker/function-entrypoint.sh /function-entrypoint.sh
ENTRYPOINT ["/function-entrypoint.sh"]

# The Handler every function has in template.yaml.
CMD ["app.handler"]
