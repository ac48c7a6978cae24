"""python -m gan.studio ckpt_path=<run>/checkpoints/last.ckpt [port=7860]"""

from gan.studio.server import main

main()
