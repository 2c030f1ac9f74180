/dev/fd/3: line 178: flat: command not found
