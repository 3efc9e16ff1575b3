// Runs the Arduino sketch once on the host (tests/test_targets_manifests.py):
// the stream on stdin, the log on stdout, like the serial port of a board.
void setup();
void loop();
int main()
{
    setup();
    loop();
    return 0;
}
