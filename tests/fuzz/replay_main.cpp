// A fuzz target without libFuzzer: runs its LLVMFuzzerTestOneInput on every file under the directories given
// (one that does not exist is skipped), in name order. tests/CMakeLists.txt builds one per target and runs it
// as a unit test on the inputs that once crashed the target (tests/fuzz/regressions/TARGET/) and on its
// committed corpus (tests/fuzz/corpus/TARGET/), so that every build, with or without clang, replays them. A
// property the target checks traps; the input's path is printed before it runs, so the last one named is
// the culprit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    if (!fs::is_directory(argv[i], ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(argv[i])) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::cerr << "replay: " << file.string() << "\n";
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
  }
  std::cout << "replayed " << replayed << " inputs\n";
  return 0;
}
