"""Reading data: text files (BOM, CRLF, encodings), benchmark dataset paths, splits, word vectors."""
