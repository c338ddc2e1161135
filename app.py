"""Streaming Playground: `python app.py` serves the UI and the HTTP API on one port."""

from playground.server import main

if __name__ == "__main__":
    main()
