# lib-store.sh -- for the tests of a damaged store (t06xx): a project
# "proj" recorded once, and copies of it to damage.

# a fresh copy of the pristine project, as $1
copy() {
    rm -rf "$1" && cp -a proj "$1"
}

# every checkpoint left restores bit-exactly, and there are $1 of them
all_restore() {
    test "$(q "SELECT count(*) FROM checkpoints")" -eq "$1" &&
    ckpt --verify >verify &&
    test "$(grep -c " ok$" verify)" -eq "$1"
}
