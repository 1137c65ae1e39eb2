"""`python -m meshform` is the same as the `meshform` console script."""

from meshform.launch import main

if __name__ == "__main__":
    main()
