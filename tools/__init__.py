"""The command-line tools, installed as the package ``ppfcos_tools``.

Each ``tools/<name>.py`` runs as a script (``python tools/train.py -c ...``, as in
PaddleDetection) and is also installed as a console command with the same flags
(``ppfcos-train -c ...``; setup.py's CONSOLE_SCRIPTS lists them).
"""
