"""The command line and the Gradio editor: the top layer, which wires planners and generators to people."""
