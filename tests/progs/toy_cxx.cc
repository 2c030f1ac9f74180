/*
 * toy_cxx.cc -- a small training program in C++, for the test that flor.h
 * works from C++: overloaded flor_arg/flor_log, flor::loop ranges, and a
 * checkpointed std::vector.
 *
 *   w[k] after epoch e, step s: w[k] += lr * (k + 1) * (s + 1) / steps
 *   loss[epoch][step] = sum(w) after the step
 *   acc[epoch]        = 0.25 * (epoch + 1)
 *
 * Built with -DHINDSIGHT it also logs wsum = sum(w) after each step loop:
 * the statement a user adds after training, for the replay test.  Each
 * step prints "step E S" so a test can see which steps ran.
 */
#include <flor.h>

#include <cstdio>
#include <numeric>
#include <vector>

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        std::fprintf(stderr, "toy_cxx: %s\n", flor_errmsg());
    long epochs = flor_arg("epochs", 3L);
    int steps = flor_arg("steps", 4);
    float lr = flor_arg("lr", 0.5f);
    bool verbose = flor_arg("verbose", true);
    const char *tag = flor_arg("tag", "cxx");
    flor_log("tag", tag);

    std::vector<double> w(8, 0.0);
    flor_checkpoint_typed("w", w.data(), w.size() * sizeof(double), FLOR_F64, 1);

    for (long epoch : flor::loop("epoch", epochs)) {
        for (long step : flor::loop("step", steps)) {
            for (std::size_t k = 0; k < w.size(); k++)
                w[k] += static_cast<double>(lr) * static_cast<double>(k + 1) *
                        static_cast<double>(step + 1) / steps;
            if (verbose)
                std::printf("step %ld %ld\n", epoch, step);
            flor_log("loss", std::accumulate(w.begin(), w.end(), 0.0));
        }
#ifdef HINDSIGHT
        flor_log("wsum", std::accumulate(w.begin(), w.end(), 0.0));
#endif
        flor_log("acc", 0.25f * static_cast<float>(epoch + 1));
    }
    flor_log("final", static_cast<unsigned long>(epochs) * static_cast<unsigned long>(steps));
    return flor_finish();
}
