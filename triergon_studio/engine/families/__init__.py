"""Model families behind one protocol (``base.GenerationModel``); ``registry`` finds and loads them."""
